// test_browser_wasm.mjs - "run on: this browser" (www/js/local.js and the
// WebAssembly engine of src/wasm/) in real headless Chromium against the
// real service (lighttpd with the repository's lighttpd.conf). Speaks TAP.
//
// What it proves:
// - the browser and the server give the same digit, and probabilities
//   within 1e-5, on the same pictures (a phone photo, a form, a scan, a
//   drawing, a generated PNG) for every model the server offers, and the
//   same "uncertain" judgement and calibrated confidence (a letter K is
//   "not a digit" in the browser as on the server), and the same
//   explanation map for the float models;
// - the model file is fetched once per page, with ETag and
//   Cache-Control: no-cache, and a reload revalidates it (304, no body);
//   lighttpd serves nothing else under /models/ and /wasm/;
// - in browser mode nothing is sent: no request to the API, and the page
//   keeps recognising with lighttpd stopped;
// - SIMD is used where the browser has it; the Content-Security-Policy
//   stays strict ('wasm-unsafe-eval' is all WebAssembly adds).
// It prints (never asserts) the time per picture and the module's size.
//
// Skips with a reason when Chromium, playwright-core or the WebAssembly
// build (emcc) is missing, unless DIGITS_REQUIRE_ALL=1 (CI), where that
// fails.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  artifacts, builddir, check, diag, dropFiles, is, ok, settledCards, runInBrowser, skipAll, srcdir, strokesPng,
} from './browser_lib.mjs';

const WAIT_MS = 20000;
const TOLERANCE = 1e-5;

/* ---------- a generated picture: a 7 in grey strokes (PNG) ---------- */

const SEVEN = strokesPng(120, 7, [
  [30, 24, 90, 24],
  [90, 24, 50, 100],
]);

// A fake camera's video (YUV4MPEG2, grey): the same 7 drawn dark on white
// paper in the middle of a 640x480 frame, two frames (Chromium loops it).
function sevenVideo(file) {
  const W = 640, H = 480, size = 240, x0 = (W - size) / 2, y0 = (H - size) / 2, k = size / 120;
  const segments = [[30, 24, 90, 24], [90, 24, 50, 100]].map((s) => s.map((v) => v * k));
  const y = Buffer.alloc(W * H, 235);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      let d = Infinity;
      for (const [ax, ay, bx, by] of segments) {
        const vx = bx - ax, vy = by - ay;
        const t = Math.max(0, Math.min(1, ((c - ax) * vx + (r - ay) * vy) / (vx * vx + vy * vy)));
        d = Math.min(d, Math.hypot(c - ax - t * vx, r - ay - t * vy));
      }
      const ink = Math.max(0, Math.min(1, 7 * k + 0.5 - d));
      y[(y0 + r) * W + x0 + c] = Math.round(235 - ink * 219);
    }
  }
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, Buffer.alloc((W / 2) * (H / 2) * 2, 128)]);
  fs.writeFileSync(file, Buffer.concat([Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\n`), frame, frame]));
  return file;
}

// The gallery's pictures (made by our tools from MNIST test digits) and the
// generated 7: name, media type, bytes, the digit they show.
// The server's "uncertain" judgement and calibrated confidence, made again
// in the browser: the same verdict, the confidence within TOLERANCE.
function sameJudgement(server, browser) {
  const same =
    server.uncertain === browser.uncertain &&
    server.uncertain_reason === browser.uncertain_reason &&
    (server.confidence === undefined ? browser.confidence === undefined : Math.abs(server.confidence - browser.confidence) <= TOLERANCE);
  if (!same) diag(`judgement: server ${JSON.stringify([server.uncertain, server.uncertain_reason, server.confidence])}, browser ${JSON.stringify([browser.uncertain, browser.uncertain_reason, browser.confidence])}`);
  return same;
}

// explain=1's map made again in the browser (float models; int8 ones
// have none on either side): the same method and class, every value
// within 1e-3 (the server prints them with three decimals), and a PNG.
function sameExplanation(server, browser) {
  if (!server || !browser) {
    if (server || browser) diag(`explanation: server ${!!server}, browser ${!!browser}`);
    return !server && !browser;
  }
  const flat = (rows) => [].concat(...rows);
  const d = maxDiff(flat(browser.map), flat(server.map));
  const same = server.method === browser.method && server.class === browser.class && d <= 1e-3 && /^data:image\/png;base64,/.test(browser.png);
  if (!same) diag(`explanation: server ${server.method} ${server.class}, browser ${browser.method} ${browser.class}, map max difference ${d}`);
  return same;
}

function pictures() {
  const ex = (f) => fs.readFileSync(path.join(srcdir, 'www', 'examples', f));
  return [
    { name: 'photo.jpg', type: 'image/jpeg', bytes: ex('photo.jpg'), label: 7 },
    { name: 'form.jpg', type: 'image/jpeg', bytes: ex('form.jpg'), label: 2 },
    { name: 'scan.jpg', type: 'image/jpeg', bytes: ex('scan.jpg'), label: 4 },
    { name: 'drawing.png', type: 'image/png', bytes: ex('drawing.png'), label: 9 },
    { name: 'seven.png', type: 'image/png', bytes: SEVEN, label: 7 },
  ];
}

// The server's answer with explain=1 where the model can explain (the
// int8 ones answer 400 explain_unsupported: then without).
async function serverPredict(base, pic, model) {
  const ask = async (explain) => {
    const form = new FormData();
    form.append('image', new Blob([pic.bytes], { type: pic.type }), pic.name);
    const res = await fetch(`${base}api/v1/predict?model=${encodeURIComponent(model)}${explain ? '&explain=1' : ''}`, { method: 'POST', body: form });
    return { status: res.status, body: await res.json() };
  };
  const r = await ask(true);
  return r.status === 400 && r.body.error && r.body.error.code === 'explain_unsupported' ? ask(false) : r;
}

// predictLocal in the page (the page's own module instance, so its engine
// and model cache are the ones the cards use).
function browserPredict(page, pic, model) {
  return page.evaluate(
    async ({ bytes, type, name, model: m }) => {
      const local = await import('/js/local.js');
      const r = await local.predictLocal(new Blob([new Uint8Array(bytes)], { type }), name, { model: m });
      return { ok: r.ok, status: r.status, error: r.error, prediction: r.prediction && { ...r.prediction, preview: undefined } };
    },
    { bytes: [...pic.bytes], type: pic.type, name: pic.name, model },
  );
}

const maxDiff = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), a.length === b.length ? 0 : Infinity);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function run(browser, service) {
  const base = service.base;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const requests = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  const modelResponses = [];
  page.on('response', (r) => /\/models\/.*\.model$/.test(r.url()) && modelResponses.push(r));

  const response = await page.goto(base);
  const csp = response.headers()['content-security-policy'] || '';
  ok(/script-src 'self' 'wasm-unsafe-eval';/.test(csp) && !/unsafe-inline|'unsafe-eval'/.test(csp), "the CSP allows WebAssembly ('wasm-unsafe-eval') and nothing looser", `got: ${csp}`);
  await page.waitForSelector('body[data-models="ready"]', { timeout: WAIT_MS });
  await check('the "Run on" switch appears, on "server" by default', async () => {
    await page.waitForSelector('#run-on input[value="browser"]', { timeout: WAIT_MS });
    return (await page.$eval('#run-on input[value="server"]', (i) => i.checked)) && (await page.$eval('body', (b) => b.dataset.runOn)) === 'server';
  });
  ok(await page.evaluate(async () => (await import('/js/local.js')).simdSupported()), 'Chromium has WebAssembly SIMD: the SIMD build is the one used');

  // --- the same answers on the same pictures, for every model
  const models = (await (await fetch(`${base}api/v1/models`)).json()).models.map((m) => m.name);
  ok(models.includes('cnn') && models.length >= 3, 'the server lists its models', `got: ${models}`);
  const pics = pictures();
  let explained = 0;
  for (const model of models) {
    for (const pic of pics) {
      await check(`${model}, ${pic.name}: the browser gives the server's digit and probabilities within ${TOLERANCE}`, async () => {
        const s = await serverPredict(base, pic, model);
        const b = await browserPredict(page, pic, model);
        if (s.status !== 200 || !b.ok) {
          diag(`server ${s.status} ${JSON.stringify(s.body.error || '')}, browser ${b.status} ${JSON.stringify(b.error)}`);
          return false;
        }
        const d = maxDiff(b.prediction.probabilities, s.body.probabilities);
        if (b.prediction.digit !== s.body.digit || !(d <= TOLERANCE)) {
          diag(`server ${s.body.digit} [${s.body.probabilities}]`);
          diag(`browser ${b.prediction.digit} [${b.prediction.probabilities}] max difference ${d}`);
          return false;
        }
        explained += !!(s.body.explanation && b.prediction.explanation);
        return sameJudgement(s.body, b.prediction) && sameExplanation(s.body.explanation, b.prediction.explanation);
      });
    }
  }
  const floats = (await (await fetch(`${base}api/v1/models`)).json()).models.filter((m) => m.precision === 'float32').length;
  is(explained, floats * pics.length, `explain=1's map compared for every float model (${floats}) and picture`);

  // --- "not a digit" in the browser too: a letter K, as the server judges it
  await check('a letter K: the browser says "not a digit" as the server does, for every model (int8 heads included)', async () => {
    const k = path.join(os.tmpdir(), `digits-wasm-k-${process.pid}.png`);
    execFileSync(path.join(builddir, 'tests', 'mknondigit'), ['letter', 'K', k]);
    const pic = { name: 'k.png', type: 'image/png', bytes: fs.readFileSync(k), label: -1 };
    fs.unlinkSync(k);
    let flagged = 0;
    for (const model of models) {
      const s = await serverPredict(base, pic, model);
      const b = await browserPredict(page, pic, model);
      if (s.status !== 200 || !b.ok || !sameJudgement(s.body, b.prediction)) return false;
      flagged += s.body.uncertain_reason === 'not_a_digit';
    }
    diag(`the K is "not a digit" for ${flagged} of ${models.length} models, in the browser as on the server`);
    // Every model has a not-a-digit head now, int8 ones too (4 of 6 before).
    return flagged === models.length;
  });
  await check('cnn: the browser reads each picture as the digit it shows', async () => {
    const got = [];
    for (const pic of pics) got.push((await browserPredict(page, pic, 'cnn')).prediction.digit);
    is(JSON.stringify(got), JSON.stringify(pics.map((p) => p.label)), 'cnn in the browser: photo 7, form 2, scan 4, drawing 9, seven 7');
  });

  // --- the model file: fetched once, with caching headers
  const cnnFetches = requests.filter((p) => p.endsWith('/models/cnn.model'));
  is(cnnFetches.length, 1, 'models/cnn.model was fetched once for all the pictures');
  const cnnResponse = modelResponses.find((r) => r.url().endsWith('/models/cnn.model'));
  const headers = cnnResponse ? cnnResponse.headers() : {};
  ok(cnnResponse && cnnResponse.status() === 200 && headers.etag && /no-cache/.test(headers['cache-control'] || ''), 'it is served with an ETag and Cache-Control: no-cache', `headers: ${JSON.stringify(headers)}`);
  const onDisk = fs.statSync(path.join(srcdir, 'models', 'cnn.model')).size;
  is(Number(headers['content-length']), onDisk, 'it is the model file the server loads (same size)');
  await check('a conditional GET with its ETag answers 304', async () => {
    const r = await fetch(`${base}models/cnn.model`, { headers: { 'If-None-Match': headers.etag } });
    return r.status === 304;
  });
  for (const p of ['models/cnn.card.json', 'models/../lighttpd.conf', 'wasm/nothing.js']) {
    await check(`/${p} is not served`, async () => {
      const r = await fetch(`${base}${p}`);
      return r.status === 404 || r.status === 400 || r.status === 403;
    });
  }

  // --- timings, printed: the engine alone and the whole picture
  await check('timing: 50 runs of each model on the drawing, in the browser and on the server', async () => {
    for (const model of models) {
      const { out: t, forward } = await page.evaluate(
        async ({ bytes, m }) => {
          const local = await import('/js/local.js');
          const blob = new Blob([new Uint8Array(bytes)], { type: 'image/png' });
          const out = [];
          for (let i = 0; i < 50; i++) out.push((await local.predictLocal(blob, 'd', { model: m })).prediction.timing_ms);
          return { out, forward: await local.benchForward(m, 500) };
        },
        { bytes: [...pics[3].bytes], m: model },
      );
      const server = [];
      for (let i = 0; i < 10; i++) server.push((await serverPredict(base, pics[3], model)).body.timing_ms);
      const med = (xs, k) => median(xs.map((x) => x[k])).toFixed(3);
      diag(`${model} (ms) browser: forward ${forward.toFixed(3)} (mean of 500), median of 50 pictures: forward ${med(t, 'forward')}, normalise ${med(t, 'normalise')}, decode ${med(t, 'decode')}, total ${med(t, 'total')}; server timing_ms: ${JSON.stringify(server[server.length - 1])}`);
    }
    return true;
  });

  // --- a browser without WebAssembly SIMD gets digits-nosimd.wasm, and
  // the same answers
  await check('without SIMD (WebAssembly.validate says no): digits-nosimd.wasm, the same answers', async () => {
    const plain = await browser.newContext();
    await plain.addInitScript(() => {
      WebAssembly.validate = () => false;
    });
    const p2 = await plain.newPage();
    const wasmFiles = [];
    p2.on('request', (r) => r.url().endsWith('.wasm') && wasmFiles.push(new URL(r.url()).pathname));
    await p2.goto(base);
    let same = true;
    for (const pic of [pics[0], pics[3]]) {
      const s = await serverPredict(base, pic, 'cnn');
      const b = await browserPredict(p2, pic, 'cnn');
      const d = b.ok ? maxDiff(b.prediction.probabilities, s.body.probabilities) : Infinity;
      if (!b.ok || b.prediction.simd || b.prediction.digit !== s.body.digit || !(d <= TOLERANCE)) {
        diag(`${pic.name}: browser ${JSON.stringify(b.error || b.prediction.digit)} simd ${b.prediction && b.prediction.simd}, max difference ${d}`);
        same = false;
      }
    }
    const forward = await p2.evaluate(async () => (await import('/js/local.js')).benchForward('cnn', 200));
    diag(`cnn forward without SIMD: ${forward.toFixed(3)} ms (mean of 200)`);
    await plain.close();
    is(JSON.stringify(wasmFiles), JSON.stringify(['/wasm/digits-nosimd.wasm']), 'only digits-nosimd.wasm was loaded');
    return same;
  });

  // --- the page: switch to "this browser"; cards run here and say so
  const apiBefore = requests.filter((p) => p.includes('/api/')).length;
  await page.check('#run-on input[value="browser"]');
  is(await page.$eval('body', (b) => b.dataset.runOn), 'browser', 'the switch turns to "this browser"');
  await check('a dropped picture is recognised in the browser: the card says where and how long', async () => {
    const card = await dropAndSettle(page, pics[0]);
    is(card.state, 'done', 'the card is done');
    is(card.digit, '7', 'the photo reads 7');
    is(card.where, 'browser', 'the card ran in the browser (data-where)');
    ok(/ms in this browser/.test(card.meta) && !/round trip/.test(card.meta), 'the card shows the time in this browser', `meta: ${card.meta}`);
    ok(card.preview.startsWith('data:image/png'), 'the card shows the 28x28 the model saw');
  });
  await page.screenshot({ path: path.join(artifacts, 'wasm-browser.png'), fullPage: true });
  is(requests.filter((p) => p.includes('/api/')).length, apiBefore, 'nothing went to the API in browser mode');

  // --- the next visit: the choice is kept, and the model is revalidated
  // from the browser's cache (304: headers only), not downloaded again
  await check('after a reload the model comes from the cache, revalidated (304, no body sent)', async () => {
    await page.reload();
    await page.waitForSelector('body[data-run-on="browser"]', { timeout: WAIT_MS });
    const b = await browserPredict(page, pics[3], 'cnn');
    const entry = await page.evaluate(() => {
      const e = performance.getEntriesByType('resource').find((r) => r.name.endsWith('/models/cnn.model'));
      return e && { transferSize: e.transferSize, encodedBodySize: e.encodedBodySize };
    });
    diag(`models/cnn.model after the reload: ${JSON.stringify(entry)}`);
    return b.ok && b.prediction.digit === 9 && entry && entry.encodedBodySize > 100000 && entry.transferSize < 2000;
  });

  // --- the live camera in browser mode: answers, and no frame sent
  await check('the live camera on "this browser": a 7 is read, several times, and no frame goes to the server', async () => {
    const video = sevenVideo(path.join(artifacts, 'wasm-camera-seven.y4m'));
    const camBrowser = await browser.browserType().launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${video}`],
    });
    try {
      const ctx = await camBrowser.newContext({ permissions: ['camera'] });
      await ctx.addInitScript(() => localStorage.setItem('digits.where', 'browser'));
      const cam = await ctx.newPage();
      const sent = [];
      cam.on('request', (r) => r.url().includes('/api/v1/predict') && sent.push(r.url()));
      await cam.goto(base);
      await cam.waitForSelector('body[data-run-on="browser"]', { timeout: WAIT_MS });
      await cam.click('#camera-open');
      await cam.waitForFunction(() => Number(document.querySelector('#live').dataset.answers || 0) >= 3, null, { timeout: WAIT_MS });
      is(await cam.textContent('#live-digit'), '7', 'the camera reads the 7 in the browser');
      is(sent.length, 0, 'no frame was sent to the API');
    } finally {
      await camBrowser.close();
    }
  });

  // --- on a phone, in dark mode: the switch is there and works, a card
  // runs in the browser with its "why" map, nothing overflows
  await check('390x844 dark: the switch, a card run in the browser with its map, nothing sideways, no console errors', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, colorScheme: 'dark', hasTouch: true, isMobile: true });
    const errors = [];
    const sent = [];
    try {
      const p = await phone.newPage();
      p.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      p.on('pageerror', (e) => errors.push(String(e)));
      p.on('request', (r) => r.url().includes('/api/v1/predict') && sent.push(r.url()));
      await p.goto(base);
      await p.waitForSelector('#run-on input[value="browser"]', { timeout: WAIT_MS });
      await p.locator('#run-on').scrollIntoViewIfNeeded();
      ok(await p.isVisible('#run-on'), 'the "Run on" switch is shown on the phone');
      await p.check('#run-on input[value="browser"]');
      const card = await dropAndSettle(p, pics[1]);
      is(`${card.state} ${card.digit} ${card.where}`, 'done 2 browser', 'the form reads 2, in the browser');
      ok(await p.$eval('#cards .card', (c) => c.dataset.explained === 'grad-cam'), 'the card has its Grad-CAM map, made in the browser');
      ok(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'nothing overflows sideways');
      await p.screenshot({ path: path.join(artifacts, 'wasm-phone-dark.png'), fullPage: true });
      is(sent.length, 0, 'nothing was sent to the API');
      ok(errors.length === 0, 'no console errors on the phone', ...errors);
    } finally {
      await phone.close();
    }
    return true;
  });

  // --- the server gone: the browser path goes on
  await service.stop();
  await check('the service is stopped', async () => {
    const r = await fetch(`${base}api/v1/health`).catch(() => null);
    return r === null;
  });
  await check('with the server stopped, a picture is still recognised in the browser', async () => {
    const card = await dropAndSettle(page, pics[4]);
    is(`${card.state} ${card.digit} ${card.where}`, 'done 7 browser', 'seven.png: 7, in the browser, offline');
  });
  await check('back to "server" with the server stopped: the card says it cannot be reached', async () => {
    await page.check('#run-on input[value="server"]');
    const card = await dropAndSettle(page, pics[2]);
    return card.state === 'error';
  });
  const unexpected = consoleErrors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(e));
  is(unexpected.length, 0, 'no console errors or CSP violations (besides the stopped server\'s)', ...unexpected);
  await context.close();
}

// Drops one picture and returns its card once it has settled.
async function dropAndSettle(page, pic) {
  return (await settledCards(page, 1, () => dropFiles(page, [pic]), WAIT_MS))[0];
}

const engineInfo = path.join(builddir, 'www', 'wasm', 'engine.json');
let info = null;
try {
  info = JSON.parse(fs.readFileSync(engineInfo, 'utf8'));
} catch {
  /* not built */
}
if (!info || !info.built) skipAll(`no WebAssembly build (${engineInfo} says none: configure found no working emcc; apt-get install emscripten)`);
diag(`module sizes: SIMD ${info.simd.wasm} B wasm + ${info.simd.js} B js; without SIMD ${info.nosimd.wasm} B wasm + ${info.nosimd.js} B js`);
runInBrowser({ name: 'WebAssembly browser test', seconds: 300 }, run);
