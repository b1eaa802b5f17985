// app.js - the digits page: send images (dropped, picked, pasted or drawn)
// to POST api/v1/predict and show what the model answered.
//
// Invariants:
// - Every upload is one XMLHttpRequest (upload progress, abort, timeout) for
//   one image; at most UPLOAD_SLOTS run at once, the rest wait in a queue, so
//   dropping a hundred files neither freezes the page nor floods the server.
// - A card owns what it shows: its request, its object URL (revoked when the
//   card goes) and the blob to send again on Retry.
// - Nothing is written as HTML from data: text goes in via textContent, and
//   the only inline style is a CSS custom property set through the CSSOM,
//   which the page's Content-Security-Policy (style-src 'self') allows.
// - URLs are relative, so the page works under any path prefix.

const API = 'api/v1/';
const UPLOAD_SLOTS = 3;
const TIMEOUT_MS = 30000;
const MODEL_KEY = 'digits.model';

const $ = (sel, root = document) => root.querySelector(sel);

const ui = {
  model: $('#model'),
  notice: $('#notice'),
  dropzone: $('#dropzone'),
  file: $('#file'),
  pad: $('#pad'),
  undo: $('#undo'),
  clear: $('#clear'),
  cards: $('#cards'),
  empty: $('#empty'),
  clearResults: $('#clear-results'),
  announce: $('#announce'),
  template: $('#card-template'),
};

/* ---------- the model chooser ---------- */

function storedModel() {
  try {
    return localStorage.getItem(MODEL_KEY) || '';
  } catch {
    return ''; // storage disabled: the choice lasts for this page only
  }
}

function storeModel(name) {
  try {
    localStorage.setItem(MODEL_KEY, name);
  } catch {
    /* see storedModel */
  }
}

// A softmax never reaches 0 or 1: say ">99.9 %" rather than the "100.0 %"
// that float rounding would print.
function percent(p) {
  if (p >= 0.9995) return '>99.9 %';
  if (p > 0 && p < 0.001) return '<0.1 %';
  return `${(p * 100).toFixed(1)} %`;
}

function modelLabel(m) {
  let label = m.default ? `${m.name} (default)` : m.name;
  if (typeof m.test_accuracy === 'number') label += ` · ${percent(m.test_accuracy)} accurate`;
  return label;
}

function modelTitle(m) {
  const facts = [];
  if (typeof m.test_accuracy === 'number') facts.push(`${percent(m.test_accuracy)} of the 10,000 MNIST test digits right`);
  if (typeof m.params === 'number') facts.push(`${m.params.toLocaleString('en')} parameters`);
  return facts.join(', ');
}

async function loadModels() {
  let models = null;
  let why = '';
  try {
    const res = await fetch(`${API}models`, { headers: { Accept: 'application/json' } });
    const body = await res.json().catch(() => null);
    if (res.ok && body && Array.isArray(body.models)) models = body.models;
    else why = (body && body.error && body.error.message) || `the server answered ${res.status}`;
  } catch {
    why = 'the server could not be reached';
  }
  if (!models) {
    ui.model.replaceChildren(new Option('server default', ''));
    showNotice(`Could not load the list of models: ${why}. Recognition uses the server's default model.`);
    return;
  }
  ui.model.replaceChildren(
    ...models.map((m) => {
      const o = new Option(modelLabel(m), m.name);
      o.title = modelTitle(m);
      return o;
    }),
  );
  const wanted = storedModel();
  const chosen = models.find((m) => m.name === wanted) || models.find((m) => m.default) || models[0];
  if (chosen) ui.model.value = chosen.name;
  ui.model.disabled = false;
  document.body.dataset.models = 'ready'; // lets tests and scripts wait for the list
}

ui.model.addEventListener('change', () => {
  storeModel(ui.model.value);
  announce(`Model ${ui.model.value} chosen.`);
});

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = false;
}

function announce(text) {
  ui.announce.textContent = text;
}

/* ---------- talking to the API ---------- */

// What to tell a person for a failed request: a plain first sentence, then
// the server's own message when it sent one.
function explainFailure(status, body) {
  const err = body && body.error ? body.error : null;
  const detail = err && err.message ? err.message : '';
  let plain;
  if (status === 0) plain = 'The server could not be reached. Check that it is running, then retry.';
  else if (status === -1) plain = `The server did not answer within ${TIMEOUT_MS / 1000} s.`;
  else if (status === 413) plain = 'This file is too large for the server.';
  else if (status === 415) plain = 'This is not an image the server can read (PNG, JPEG, GIF, BMP or WebP).';
  else if (status === 422) plain = 'No digit could be found in this image.';
  else if (status === 400) plain = 'The server could not use this request.';
  else if (status === 503) plain = 'The server is busy or not ready; try again in a moment.';
  else if (status >= 500) plain = `The server failed (${status}).`;
  else plain = `Unexpected answer from the server (${status}).`;
  return { plain, detail, code: err && err.code ? err.code : '' };
}

// POST one image; resolves to {ok, status, body, ms}, never rejects, so the
// caller handles every outcome in one place. `onProgress(fraction)` follows
// the upload; `signal` (an AbortSignal) cancels it.
function postImage(blob, name, { onProgress, signal } = {}) {
  return new Promise((resolve) => {
    const params = new URLSearchParams({ preview: '1' });
    if (ui.model.value) params.set('model', ui.model.value);
    const form = new FormData();
    form.append('image', blob, name);

    const xhr = new XMLHttpRequest();
    const started = performance.now();
    const done = (status, body) => resolve({ ok: status >= 200 && status < 300, status, body, ms: performance.now() - started });
    xhr.open('POST', `${API}predict?${params}`);
    xhr.timeout = TIMEOUT_MS;
    xhr.responseType = 'text';
    xhr.setRequestHeader('Accept', 'application/json');
    if (onProgress) {
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.upload.onload = () => onProgress(1);
    }
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* a proxy's HTML error page: the status still says what happened */
      }
      done(xhr.status, body);
    };
    xhr.onerror = () => done(0, null);
    xhr.ontimeout = () => done(-1, null);
    xhr.onabort = () => resolve({ aborted: true });
    if (signal) signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

// A reply for one image, or the first of a batch reply.
function firstPrediction(body) {
  if (body && Array.isArray(body.predictions)) return body.predictions[0] || null;
  return body;
}

/* ---------- result cards ---------- */

function span(className, text = '') {
  const s = document.createElement('span');
  s.className = className;
  s.textContent = text;
  return s;
}

function makeCard(name) {
  const el = ui.template.content.firstElementChild.cloneNode(true);
  $('.card-name', el).textContent = name;
  $('.card-name', el).title = name;
  const bars = $('.bars', el);
  for (let d = 0; d < 10; d++) {
    const li = document.createElement('li');
    li.className = 'bar';
    const track = span('bar-track');
    track.append(span('bar-fill'));
    li.append(span('bar-label', String(d)), track, span('bar-value'));
    bars.append(li);
  }
  return el;
}

function setCardState(el, state, progressText) {
  el.dataset.state = state;
  el.setAttribute('aria-busy', String(state === 'loading' || state === 'queued'));
  if (progressText) $('.card-progress-text', el).textContent = progressText;
}

function showResult(el, r, roundTripMs) {
  const digit = r.digit;
  el.dataset.digit = String(digit);
  $('.card-digit', el).textContent = String(digit);
  $('.card-prob', el).textContent = `${percent(r.probability)} sure`;
  const probs = Array.isArray(r.probabilities) ? r.probabilities : [];
  el.querySelectorAll('.bar').forEach((li, d) => {
    const p = Number(probs[d]) || 0;
    li.classList.toggle('bar-top', d === digit);
    li.style.setProperty('--p', String(Math.min(1, Math.max(0, p))));
    $('.bar-value', li).textContent = percent(p);
    li.setAttribute('aria-label', `${d}: ${percent(p)}`);
  });
  const preview = $('.card-preview', el);
  if (typeof r.preview === 'string' && r.preview.startsWith('data:image/')) {
    preview.src = r.preview;
    preview.hidden = false;
  }
  const parts = [];
  if (r.model && r.model.name) parts.push(r.model.name);
  if (r.timing_ms && typeof r.timing_ms.total === 'number') parts.push(`${r.timing_ms.total.toFixed(1)} ms on the server`);
  parts.push(`${Math.round(roundTripMs)} ms round trip`);
  $('.card-meta', el).textContent = parts.join(' · ');
  setCardState(el, 'done');
}

function showError(el, failure) {
  $('.card-error-text', el).textContent = failure.plain;
  $('.card-error-detail', el).textContent = failure.detail ? `Server: ${failure.detail}` : '';
  el.dataset.error = failure.code || 'request_failed';
  setCardState(el, 'error');
}

// Runs one request for a card and renders its outcome; returns the outcome
// text for the live region (or null when aborted).
async function runCard(job) {
  const { el } = job;
  const bar = $('progress', el);
  bar.value = 0;
  setCardState(el, 'loading', 'Uploading…');
  const controller = new AbortController();
  job.controller = controller;
  const res = await postImage(job.blob, job.name, {
    signal: controller.signal,
    onProgress: (f) => {
      bar.value = f;
      if (f >= 1) {
        bar.removeAttribute('value'); // indeterminate while the model runs
        $('.card-progress-text', el).textContent = 'Recognising…';
      }
    },
  });
  job.controller = null;
  if (res.aborted) return null;
  const prediction = res.ok ? firstPrediction(res.body) : null;
  if (prediction && typeof prediction.digit === 'number') {
    showResult(el, prediction, res.ms);
    return `${job.name}: ${prediction.digit}, ${percent(prediction.probability)} sure.`;
  }
  // A failed image inside a 200 batch reply carries its own error object.
  const errorBody = prediction && prediction.error ? prediction : res.body;
  const status = res.ok ? (errorBody && errorBody.error && errorBody.error.status) || 500 : res.status;
  const failure = explainFailure(status, errorBody);
  if (res.ok && !(prediction && prediction.error)) failure.plain = 'The server answered something this page does not understand.';
  showError(el, failure);
  return `${job.name}: ${failure.plain}`;
}

/* ---------- the upload queue ---------- */

const queue = [];
const jobOf = new WeakMap(); // result card element -> its upload job
let running = 0;

function pump() {
  while (running < UPLOAD_SLOTS && queue.length) {
    const job = queue.shift();
    if (job.removed) continue;
    running++;
    runCard(job).then((said) => {
      running--;
      if (said) announce(said);
      pump();
    });
  }
}

function enqueue(job) {
  setCardState(job.el, 'queued', 'Waiting…');
  queue.push(job);
  pump();
}

function addUpload(blob, name) {
  const el = makeCard(name);
  const job = { el, blob, name, url: URL.createObjectURL(blob), controller: null, removed: false };
  const original = $('.card-original', el);
  original.decoding = 'async';
  original.src = job.url;
  original.addEventListener('error', () => original.classList.add('broken'), { once: true });
  $('.card-retry', el).addEventListener('click', () => enqueue(job));
  $('.card-close', el).addEventListener('click', () => removeCard(job));
  jobOf.set(el, job);
  ui.cards.prepend(el);
  updateEmpty();
  enqueue(job);
}

function removeCard(job) {
  job.removed = true;
  if (job.controller) job.controller.abort();
  URL.revokeObjectURL(job.url);
  job.el.remove();
  updateEmpty();
}

function updateEmpty() {
  const any = ui.cards.children.length > 0;
  ui.empty.hidden = any;
  ui.clearResults.hidden = !any;
}

ui.clearResults.addEventListener('click', () => {
  for (const el of [...ui.cards.children]) removeCard(jobOf.get(el));
  ui.dropzone.focus();
});

function addFiles(files, fallbackName = 'image') {
  const list = [...files];
  // Newest first on screen, but in the order given: prepend in reverse.
  for (const f of list.reverse()) addUpload(f, f.name || fallbackName);
  if (list.length > 1) announce(`${list.length} images sent.`);
}

/* ---------- drop, pick, paste ---------- */

const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
let dragDepth = 0;

// The whole window accepts a drop, so a near miss does not navigate away
// from the page to the dropped file.
window.addEventListener('dragenter', (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  dragDepth++;
  document.body.classList.add('dragging');
});
window.addEventListener('dragover', (e) => {
  if (!hasFiles(e)) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = 'copy';
});
window.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) document.body.classList.remove('dragging');
});
window.addEventListener('drop', (e) => {
  dragDepth = 0;
  document.body.classList.remove('dragging');
  if (!e.dataTransfer || !e.dataTransfer.files.length) return;
  e.preventDefault();
  addFiles(e.dataTransfer.files);
});

ui.dropzone.addEventListener('click', () => ui.file.click());
ui.dropzone.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault(); // Space would scroll the page
    ui.file.click();
  }
});
ui.file.addEventListener('change', () => {
  if (ui.file.files.length) addFiles(ui.file.files);
  ui.file.value = ''; // choosing the same file again still fires change
});

document.addEventListener('paste', (e) => {
  const items = e.clipboardData ? [...e.clipboardData.items] : [];
  const files = items.filter((i) => i.kind === 'file').map((i) => i.getAsFile()).filter(Boolean);
  if (!files.length) return;
  e.preventDefault();
  addFiles(files, 'pasted image');
});

/* ---------- the camera ---------- */

const camera = { box: $('#camera'), video: $('#camera-video'), open: $('#camera-open'), stream: null };

function closeCamera() {
  if (camera.stream) for (const t of camera.stream.getTracks()) t.stop();
  camera.stream = null;
  camera.video.srcObject = null;
  camera.box.hidden = true;
  camera.open.hidden = false;
}

camera.open.addEventListener('click', async () => {
  try {
    camera.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment', width: { ideal: 1280 } }, audio: false });
  } catch (err) {
    const why = err && err.name === 'NotAllowedError' ? 'permission was refused' : err && err.name === 'NotFoundError' ? 'no camera was found' : (err && err.message) || 'it failed';
    showNotice(`The camera could not be used: ${why}.`);
    return;
  }
  camera.video.srcObject = camera.stream;
  await camera.video.play().catch(() => {});
  camera.box.hidden = false;
  camera.open.hidden = true;
  $('#camera-shoot').focus();
});

// A photo is the centre square of the frame (what the overlay marks),
// sent as JPEG like a phone picture would be.
$('#camera-shoot').addEventListener('click', () => {
  const v = camera.video;
  if (!v.videoWidth) return;
  const side = Math.min(v.videoWidth, v.videoHeight);
  const shot = document.createElement('canvas');
  shot.width = shot.height = Math.min(side, 640);
  shot.getContext('2d').drawImage(v, (v.videoWidth - side) / 2, (v.videoHeight - side) / 2, side, side, 0, 0, shot.width, shot.height);
  shot.toBlob((blob) => blob && addUpload(blob, `camera-${new Date().toTimeString().slice(0, 8)}.jpg`), 'image/jpeg', 0.9);
});
$('#camera-close').addEventListener('click', () => {
  closeCamera();
  camera.open.focus();
});
camera.open.hidden = !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);

/* ---------- the drawing pad ---------- */

const pad = ui.pad;
const ctx = pad.getContext('2d');
const strokes = []; // each stroke: array of [x, y] in canvas pixels
let current = null;
let drawJob = null;
const drawCard = makeCard('your drawing');
drawCard.id = 'draw-result';
drawCard.classList.add('card-drawing');
$('.card-close', drawCard).remove();
$('.card-images figure', drawCard).remove(); // the pad itself shows what was sent
drawCard.hidden = true;
$('.draw').append(drawCard);
$('.card-retry', drawCard).addEventListener('click', () => predictDrawing());

// Ink and paper follow the colour scheme; the server detects polarity, so
// light-on-dark and dark-on-light are both fine. Stroke width is about a
// tenth of the pad, close to MNIST's pen relative to its 20-pixel digits.
function padColours() {
  const css = getComputedStyle(pad);
  return { paper: css.getPropertyValue('--pad-paper').trim() || '#fff', ink: css.getPropertyValue('--pad-ink').trim() || '#000' };
}

function strokePath(points) {
  ctx.beginPath();
  ctx.moveTo(points[0][0], points[0][1]);
  if (points.length === 1) ctx.lineTo(points[0][0] + 0.01, points[0][1]); // a dot
  for (let i = 1; i < points.length; i++) ctx.lineTo(points[i][0], points[i][1]);
  ctx.stroke();
}

function redraw() {
  const { paper, ink } = padColours();
  ctx.fillStyle = paper;
  ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = ink;
  ctx.lineWidth = pad.width / 12;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  for (const s of strokes) strokePath(s);
  ui.undo.disabled = strokes.length === 0;
  ui.clear.disabled = strokes.length === 0;
}

function padPoint(e) {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
}

pad.addEventListener('pointerdown', (e) => {
  if (e.pointerType === 'mouse' && e.button !== 0) return;
  e.preventDefault();
  pad.setPointerCapture(e.pointerId);
  current = [padPoint(e)];
  strokes.push(current);
  redraw();
});

pad.addEventListener('pointermove', (e) => {
  if (!current || !pad.hasPointerCapture(e.pointerId)) return;
  const coalesced = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
  const points = (coalesced.length ? coalesced : [e]).map(padPoint);
  strokePath([current[current.length - 1], ...points]);
  current.push(...points);
});

function endStroke() {
  if (!current) return;
  current = null;
  redraw();
  predictDrawing();
}
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);

ui.undo.addEventListener('click', () => {
  strokes.pop();
  redraw();
  if (strokes.length) predictDrawing();
  else resetDrawCard();
});
ui.clear.addEventListener('click', () => {
  strokes.length = 0;
  redraw();
  resetDrawCard();
});

// Ctrl+Z (Cmd+Z) undoes a stroke, except where it edits a form control.
document.addEventListener('keydown', (e) => {
  if (!(e.ctrlKey || e.metaKey) || e.shiftKey || e.altKey || e.key.toLowerCase() !== 'z') return;
  if (!strokes.length || (e.target instanceof Element && e.target.closest('input, select, textarea'))) return;
  e.preventDefault();
  ui.undo.click();
});

function resetDrawCard() {
  if (drawJob && drawJob.controller) drawJob.controller.abort();
  drawJob = null;
  drawCard.hidden = true;
  announce('Drawing cleared.');
}

// Each finished stroke sends the whole pad; a newer request aborts the
// older one so a slow answer never overwrites a fresher one.
function predictDrawing() {
  pad.toBlob((blob) => {
    if (!blob || !strokes.length) return;
    if (drawJob && drawJob.controller) drawJob.controller.abort();
    const job = { el: drawCard, blob, name: 'drawing.png', controller: null };
    drawJob = job;
    drawCard.hidden = false;
    runCard(job).then((said) => {
      if (said && drawJob === job) announce(said.replace('drawing.png', 'Your drawing'));
    });
  }, 'image/png');
}

window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', redraw);

/* ---------- start ---------- */

redraw();
updateEmpty();
loadModels();
