// browser_lib.mjs - what the browser tests share: TAP output, the real
// service started as the shell tests start it (tests/lib.sh), playwright-core
// and Chromium found or the test skipped, and the ways a person uses the
// page (a drop, a mouse stroke, a finger stroke) driven in real Chromium.
// Used by tests/test_browser.mjs, tests/test_browser_number.mjs and
// tests/test_browser_wasm.mjs, each of which runs its tests inside
// runInBrowser.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const srcdir = process.env.top_srcdir || path.resolve(here, '..');
export const builddir = process.env.top_builddir || srcdir;
export const requireAll = !!process.env.DIGITS_REQUIRE_ALL && process.env.DIGITS_REQUIRE_ALL !== '0';
export const artifacts = path.join(builddir, 'tests', 'artifacts');
export const WAIT_MS = 15000;

/* ---------- TAP ---------- */

let n = 0;
let failed = 0;
export const diag = (text) => console.log(String(text).split('\n').map((l) => `# ${l}`).join('\n'));

export function ok(cond, desc, ...why) {
  n++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${desc}`);
  if (!cond) {
    failed++;
    for (const w of why) diag(w);
  }
  return !!cond;
}

export function is(got, want, desc) {
  return ok(got === want, desc, `got:  ${JSON.stringify(got)}`, `want: ${JSON.stringify(want)}`);
}

export function skipAll(reason) {
  if (requireAll) {
    console.log(`1..1\nnot ok 1 - required but skipped: ${reason}`);
    process.exit(1);
  }
  console.log(`1..0 # SKIP ${reason}`);
  process.exit(0);
}

// Runs one check; an exception (a timeout, usually) is a failure, not a crash.
export async function check(desc, fn) {
  try {
    const r = await fn();
    if (r !== undefined) ok(r, desc);
  } catch (err) {
    ok(false, desc, err && err.stack ? err.stack.split('\n').slice(0, 4).join('\n') : String(err));
  }
}

/* ---------- test images, made here so the test needs no fixtures ---------- */

export function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

export function pngChunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

// An 8-bit greyscale PNG of dark strokes on white paper, like a scanned
// note: each stroke is a segment [x0, y0, x1, y1] drawn with radius r,
// anti-aliased by distance.
export function strokesPng(size, r, segments) {
  const rows = Buffer.alloc(size * (size + 1), 255);
  for (let y = 0; y < size; y++) {
    rows[y * (size + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      let d = Infinity;
      for (const [x0, y0, x1, y1] of segments) {
        const vx = x1 - x0, vy = y1 - y0;
        const t = Math.max(0, Math.min(1, ((x - x0) * vx + (y - y0) * vy) / (vx * vx + vy * vy || 1)));
        d = Math.min(d, Math.hypot(x - x0 - t * vx, y - y0 - t * vy));
      }
      const ink = Math.max(0, Math.min(1, r + 0.5 - d));
      rows[y * (size + 1) + 1 + x] = Math.round(255 * (1 - ink));
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(rows)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// A 7 as people write it: a top bar and a long stroke down to the left.

export async function loadPlaywright() {
  for (const base of [path.join(srcdir, 'tests'), path.join(builddir, 'tests'), here]) {
    try {
      const req = createRequire(path.join(base, 'package.json'));
      return (await import(pathToFileURL(req.resolve('playwright-core')))).default;
    } catch {
      /* try the next place */
    }
  }
  return null;
}

// Starts the real service exactly as the shell tests do: a shell sources
// tests/lib.sh and runs its need_server and start_server (tests/serve.sh:
// lighttpd -D with the repository's lighttpd.conf and the FastCGI program
// of the build tree, on a free 127.0.0.1 port, as www-data when it can).
// The shell prints the URL, then waits on its stdin: closing that (or this
// process dying) makes it stop lighttpd and remove its files.  stop()
// returns a promise that resolves once lighttpd is gone.
export async function startService() {
  const script = [
    '. "$top_srcdir/tests/tap.sh"',
    '. "$top_srcdir/tests/lib.sh"',
    'need_server',
    'start_server || exit 1',
    'echo "BASE_URL=$BASE_URL"',
    'echo "SERVER_LOG=$SERVER_LOG"',
    'read -r _ || :',
  ].join('\n');
  const env = { ...process.env, top_srcdir: srcdir, top_builddir: builddir };
  const child = spawn('sh', ['-c', script], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.stdin.end();
    return exited;
  };
  process.on('exit', stop);

  const lines = [];
  const found = await new Promise((resolve) => {
    let buf = '';
    child.stdout.on('data', (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (lines.some((l) => l.startsWith('SERVER_LOG='))) resolve(true);
      }
    });
    child.on('exit', () => resolve(false));
  });
  if (!found) {
    const skip = lines.find((l) => /^1\.\.0 # SKIP /.test(l));
    if (skip) skipAll(skip.replace(/^1\.\.0 # SKIP /, ''));
    const required = lines.find((l) => /required but skipped: /.test(l));
    if (required) skipAll(required.replace(/.*required but skipped: /, ''));
    console.log('1..1\nnot ok 1 - the service starts (tests/lib.sh start_server)');
    for (const l of lines) diag(l.replace(/^# ?/, ''));
    process.exit(1);
  }
  const value = (key) => lines.find((l) => l.startsWith(`${key}=`)).slice(key.length + 1);
  return { base: `${value('BASE_URL')}/`, log: value('SERVER_LOG'), stop };
}

// The frame of every browser test: playwright-core and Debian's Chromium
// found (or the whole test skipped), the service (ours on a free port, or
// DIGITS_TEST_URL when the test allows another), Chromium launched with the
// flags of every test plus extraArgs, a watchdog of `seconds`, then
// body(browser, service) and, whatever happens, the browser and the service
// stopped (the server's log shown when something failed) and the TAP plan.
// An exception anywhere is a "Bail out!".
export function runInBrowser({ name, seconds, extraArgs = [], otherService = false }, body) {
  const main = async () => {
    const pw = await loadPlaywright();
    if (!pw) skipAll('playwright-core not installed (npm ci --prefix tests)');
    const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
    if (!fs.existsSync(chromiumPath)) skipAll(`Chromium not found (${chromiumPath})`);
    const service = otherService && process.env.DIGITS_TEST_URL
      ? { base: process.env.DIGITS_TEST_URL.replace(/\/?$/, '/'), stop() {} }
      : await startService();
    fs.mkdirSync(artifacts, { recursive: true });
    const browser = await pw.chromium.launch({
      executablePath: chromiumPath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', '--disable-quic', ...extraArgs],
    });
    const watchdog = setTimeout(() => {
      console.log(`Bail out! the ${name} took longer than ${seconds} s`);
      process.exit(1);
    }, seconds * 1000);
    try {
      await body(browser, service);
    } finally {
      clearTimeout(watchdog);
      await browser.close();
      if (failed && service.log && fs.existsSync(service.log)) diag(`server log:\n${fs.readFileSync(service.log, 'utf8').slice(-1500)}`);
      await service.stop();
    }
    console.log(`1..${n}`);
    process.exitCode = failed ? 1 : 0;
  };
  main().catch((err) => {
    console.log(`Bail out! ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  });
}

/* ---------- the page, driven like a person would ---------- */

// A new context with `options` (viewport, colour scheme, touch) and the page
// in it, loaded until its model list is ready; errors collects what the
// console reports as an error and every uncaught exception.
export async function openPage(browser, base, options) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base);
  await page.waitForSelector('body[data-models="ready"]', { timeout: WAIT_MS });
  return { context, page, errors };
}

// A real drop: DragEvents carrying a DataTransfer whose Files are built in
// the page from the bytes given here.
export async function dropFiles(page, files) {
  await page.evaluate((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: f.type }));
    const zone = document.querySelector('#dropzone');
    for (const type of ['dragenter', 'dragover', 'drop']) {
      zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    }
  }, files.map((f) => ({ ...f, bytes: [...f.bytes] })));
}

export const cardCount = (page) => page.$$eval('#cards .card', (c) => c.length);

// Runs `action`, which adds k cards, and waits (`timeout` ms at most) until
// those have settled; returns every card's state and content, newest first.
export async function settledCards(page, k, action, timeout = WAIT_MS) {
  const before = await cardCount(page);
  await action();
  await page.waitForFunction(
    ([total, newest]) => {
      const cards = [...document.querySelectorAll('#cards .card')];
      return cards.length === total && cards.slice(0, newest).every((c) => c.dataset.state === 'done' || c.dataset.state === 'error');
    },
    [before + k, k],
    { timeout },
  );
  return page.$$eval('#cards .card', (cards) =>
    cards.map((c) => ({
      name: c.querySelector('.card-name').textContent,
      state: c.dataset.state,
      digit: c.querySelector('.card-digit').textContent,
      where: c.dataset.where || '',
      error: c.dataset.error || '',
      text: c.querySelector('.card-error-text').textContent,
      meta: c.querySelector('.card-meta').textContent,
      preview: c.querySelector('.card-preview').getAttribute('src') || '',
      why: c.querySelector('.card-why').getAttribute('src') || '',
      whyShown: !c.querySelector('.card-why-figure').hidden,
      whyCaption: c.querySelector('.card-why-caption').textContent,
    })),
  );
}

export async function drawStroke(page, points) {
  const box = await page.locator('#pad').boundingBox();
  const at = ([fx, fy]) => [box.x + fx * box.width, box.y + fy * box.height];
  await page.mouse.move(...at(points[0]));
  await page.mouse.down();
  for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps: 10 });
  await page.mouse.up();
}

// A finger: raw touch events through the DevTools protocol, which Chromium
// turns into pointer events of type "touch" (the pad must not scroll).
export async function touchStroke(page, points) {
  const box = await page.locator('#pad').boundingBox();
  const cdp = await page.context().newCDPSession(page);
  const at = ([fx, fy]) => [{ x: box.x + fx * box.width, y: box.y + fy * box.height }];
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: at(points[0]) });
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    for (let k = 1; k <= 10; k++) {
      const t = k / 10;
      await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: at([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]) });
    }
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await cdp.detach();
}

export async function drawnResult(page) {
  await page.waitForFunction(() => {
    const c = document.querySelector('#draw-result');
    return c && !c.hidden && (c.dataset.state === 'done' || c.dataset.state === 'error');
  }, null, { timeout: WAIT_MS });
  return page.$eval('#draw-result', (c) => ({ state: c.dataset.state, digit: c.querySelector('.card-digit').textContent, text: c.querySelector('.card-error-text').textContent }));
}

// Where `selector` is, and whether all of it is on the screen as it is now
// (no scrolling): {inside, box, viewport, scrollY}.
export async function onScreen(page, selector) {
  return page.$eval(selector, (el) => {
    const r = el.getBoundingClientRect();
    const vw = document.documentElement.clientWidth, vh = window.innerHeight;
    return {
      inside: r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= vh && r.right <= vw,
      box: `x=${Math.round(r.left)} y=${Math.round(r.top)} w=${Math.round(r.width)} h=${Math.round(r.height)}`,
      viewport: `${vw}x${vh}`,
      scrollY: window.scrollY,
    };
  });
}

// The file names of the images a predict request carries, in order.
export const sentNames = (req) => [...(req.postDataBuffer() || Buffer.alloc(0)).toString('latin1').matchAll(/filename="([^"]*)"/g)].map((m) => m[1]);

// Text a person sees (display: none left out).
export const seenText = (page, selector) => page.$eval(selector, (el) => el.innerText.replace(/\s+/g, ' ').trim());

export const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

