// local.js - "run on: this browser": the server's own C engine and image
// normalisation, compiled to WebAssembly (www/wasm/, built by `make` when
// emscripten is installed), recognise a picture without sending it.
//
// Invariants:
// - Nothing about a picture leaves the page in browser mode: the browser
//   decodes it (createImageBitmap, then canvas getImageData for RGBA) and
//   the WebAssembly module does the rest. The only requests are for the
//   engine (wasm/digits*.js and .wasm) and the model file
//   (models/NAME.model, the same file the server loads), each fetched once
//   per page and revalidated by ETag on the next visit (Cache-Control:
//   no-cache from the server), so a model updated on the server is used
//   from the next page load on.
// - predictLocal() resolves to the same outcome object as api.js's
//   postImage ({ok, status, body, ms, prediction, error}) and never
//   rejects, so the cards show either without knowing which ran; a
//   prediction made here has `where: 'browser'` and timing_ms {decode,
//   normalise, forward, total} measured in this page.
// - The switch appears only when the module is built (wasm/engine.json
//   says so), and the choice is kept in localStorage.

const WASM_DIR = '../wasm/';
const MODELS_URL = 'models/';
const WHERE_KEY = 'digits.where';
// The server's default limit on a side (DIGITS_MAX_SIDE): a larger picture
// is scaled down by the browser first, as shrink.js does before an upload.
const MAX_SIDE = 4096;
// The smallest module that uses a SIMD instruction (i8x16.splat): whether
// this browser validates it picks digits.wasm or digits-nosimd.wasm.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

let engine = null; // Promise of {mod, simd}: the emscripten module, made once
const models = new Map(); // model name -> Promise of its handle in the module
let where = storedWhere();

function storedWhere() {
  try {
    return localStorage.getItem(WHERE_KEY) === 'browser' ? 'browser' : 'server';
  } catch {
    return 'server';
  }
}

function storeWhere(value) {
  try {
    localStorage.setItem(WHERE_KEY, value);
  } catch {
    /* storage disabled: the choice lasts for this page only */
  }
}

export function simdSupported() {
  try {
    return WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

// Whether pictures are recognised here rather than sent.
export function runsInBrowser() {
  return where === 'browser';
}

function loadEngine() {
  if (!engine) {
    const simd = simdSupported();
    const url = new URL(`${WASM_DIR}${simd ? 'digits.js' : 'digits-nosimd.js'}`, import.meta.url);
    engine = import(url.href)
      .then((m) => m.default())
      .then((mod) => ({ mod, simd }));
    engine.catch(() => {
      engine = null; // a failed load is tried again on the next picture
    });
  }
  return engine;
}

function cString(mod, text) {
  const size = mod.lengthBytesUTF8(text) + 1;
  const p = mod._malloc(size);
  mod.stringToUTF8(text, p, size);
  return p;
}

// The model's handle in the module: its file fetched (once) and checked by
// the engine's own loader.
function loadModel(name) {
  if (!models.has(name)) {
    const p = (async () => {
      const { mod } = await loadEngine();
      const res = await fetch(`${MODELS_URL}${encodeURIComponent(name)}.model`);
      if (!res.ok) throw new Error(`the model file ${name}.model could not be fetched (${res.status})`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const buf = mod._malloc(bytes.length);
      const cname = cString(mod, name);
      mod.HEAPU8.set(bytes, buf);
      const handle = mod._dw_model_load(cname, buf, bytes.length);
      mod._free(buf);
      mod._free(cname);
      if (!handle) throw new Error(mod.UTF8ToString(mod._dw_error()));
      return { handle, classes: mod._dw_model_classes(handle), precision: mod.UTF8ToString(mod._dw_model_precision(handle)) };
    })();
    models.set(name, p);
    p.catch(() => models.delete(name));
  }
  return models.get(name);
}

// The picture's pixels as the browser decodes them, upright (EXIF), RGBA.
async function decode(blob) {
  const opts = { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none' };
  const bitmap = await createImageBitmap(blob, opts).catch(() => createImageBitmap(blob));
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const w = Math.max(1, Math.round(bitmap.width * scale));
  const h = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(w, h) : Object.assign(document.createElement('canvas'), { width: w, height: h });
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  return ctx.getImageData(0, 0, w, h);
}

// The 28x28 the model saw as a PNG data: URL (ink white on black, as the
// server's preview).
function previewUrl(seen) {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 28;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(Math.min(1, Math.max(0, seen[i])) * 255);
    img.data.set([v, v, v, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
  return canvas.toDataURL('image/png');
}

// dw_judgement's verdicts, as the API names them (engine/confidence.h).
const VERDICTS = ['', 'not_a_digit', 'ambiguous'];
const DG_ERR_TOO_LARGE = 5;
const DG_ERR_EMPTY = 7;

// Recognise `blob` here; resolves to an outcome as api.js's postImage does
// (the status is the one the server would answer: 422 for no digit, 413
// for too large, 415 for what the browser cannot decode, 500 when the
// engine or the model cannot be loaded).
export async function predictLocal(blob, name, { model, onProgress, details = true } = {}) {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const failure = (status, code, message) => ({ ok: false, status, body: null, ms: elapsed(), prediction: null, error: { code, message } });
  if (onProgress) onProgress(1);
  const modelName = model || 'cnn';
  let eng, m;
  try {
    [eng, m] = await Promise.all([loadEngine(), loadModel(modelName)]);
  } catch (err) {
    return failure(500, 'engine_unavailable', `The engine could not be loaded in this browser: ${err.message || err}`);
  }
  let pixels;
  const t0 = performance.now();
  try {
    pixels = await decode(blob);
  } catch {
    return failure(415, 'unsupported_image', 'This browser cannot decode this picture.');
  }
  const t1 = performance.now();
  const { mod, simd } = eng;
  const rgba = mod._malloc(pixels.data.length);
  const seen = mod._malloc(784 * 4);
  const probs = mod._malloc(m.classes * 4);
  const ms = mod._malloc(2 * 8);
  const inverted = mod._malloc(4);
  try {
    mod.HEAPU8.set(pixels.data, rgba);
    const digit = mod._dw_predict(m.handle, rgba, pixels.width, pixels.height, seen, probs, ms, inverted);
    const t2 = performance.now();
    if (digit < 0) {
      const why = mod.UTF8ToString(mod._dw_error());
      if (-digit === DG_ERR_EMPTY) return failure(422, 'no_digit', why);
      if (-digit === DG_ERR_TOO_LARGE) return failure(413, 'image_too_large', why);
      return failure(500, 'internal', why);
    }
    const probabilities = Array.from(mod.HEAPF32.subarray(probs / 4, probs / 4 + m.classes));
    const [normalise, forward] = mod.HEAPF64.subarray(ms / 8, ms / 8 + 2);
    // The server's "uncertain" judgement, made here with the same model file.
    const verdict = mod._dw_judgement(m.handle, ms);
    const judged = verdict < 0 ? {} : { confidence: mod.HEAPF64[ms / 8], uncertain: verdict !== 0 };
    if (verdict > 0) judged.uncertain_reason = VERDICTS[verdict];
    const prediction = {
      digit,
      probability: probabilities[digit],
      probabilities,
      ...judged,
      model: { name: modelName, precision: m.precision },
      preview: previewUrl(mod.HEAPF32.subarray(seen / 4, seen / 4 + 784)),
      inverted: mod.HEAP32[inverted / 4] === 1,
      where: 'browser',
      simd,
      timing_ms: { decode: t1 - t0, normalise, forward, total: t2 - t0 },
    };
    // explain=1 as the server answers it, for the float models (details:
    // false, the live camera, asks for neither preview nor map).
    if (details && m.precision === 'float32') prediction.explanation = explainLast(mod, m);
    return { ok: true, status: 200, body: prediction, ms: elapsed(), prediction, error: null };
  } finally {
    for (const p of [rgba, seen, probs, ms, inverted]) mod._free(p);
  }
}

// The server's EXPLAIN_PNG_SCALE: each of the 28x28 map's pixels 8x8.
const EXPLAIN_SCALE = 8;

// The explanation of the picture model `m` last saw, in the server's shape
// ({method, class, map: 28 rows of 28, png: a data: URL}), or undefined.
function explainLast(mod, m) {
  const side = 28 * EXPLAIN_SCALE;
  const map = mod._malloc(784 * 4);
  const rgb = mod._malloc(side * side * 3);
  try {
    const cls = mod._dw_explain(m.handle, -1, EXPLAIN_SCALE, map, rgb);
    if (cls < 0) return undefined;
    const values = mod.HEAPF32.subarray(map / 4, map / 4 + 784);
    const rows = [];
    for (let y = 0; y < 28; y++) rows.push(Array.from(values.subarray(y * 28, y * 28 + 28)));
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = side;
    const ctx = canvas.getContext('2d');
    const img = ctx.createImageData(side, side);
    const src = mod.HEAPU8.subarray(rgb, rgb + side * side * 3);
    for (let i = 0; i < side * side; i++) img.data.set([src[i * 3], src[i * 3 + 1], src[i * 3 + 2], 255], i * 4);
    ctx.putImageData(img, 0, 0);
    return { method: mod.UTF8ToString(mod._dw_explain_method(m.handle)), class: cls, map: rows, png: canvas.toDataURL('image/png') };
  } finally {
    mod._free(map);
    mod._free(rgb);
  }
}

// For benchmarks: the forward pass of `model` alone, on the last picture
// predictLocal gave it, `runs` times; milliseconds per picture.
export async function benchForward(model, runs) {
  const [{ mod }, m] = await Promise.all([loadEngine(), loadModel(model)]);
  return mod._dw_bench_forward(m.handle, runs);
}

// The "Run on: server / this browser" switch, added to the footer when
// the WebAssembly module is served. onChange(where) runs when
// the visitor switches.
export async function runOnSwitch({ onChange = () => {} } = {}) {
  // engine.json is always built (make writes {"built": false} without
  // emscripten), so the page never asks for a file that is not there.
  const info = await fetch(new URL(`${WASM_DIR}engine.json`, import.meta.url))
    .then((r) => (r.ok ? r.json() : null))
    .catch(() => null);
  if (!info || !info.built || typeof WebAssembly !== 'object') {
    where = 'server';
    return;
  }
  const box = document.createElement('fieldset');
  box.className = 'run-on';
  box.id = 'run-on';
  const legend = document.createElement('legend');
  legend.textContent = 'Run on';
  box.append(legend);
  for (const [value, text] of [['server', 'server'], ['browser', 'this browser']]) {
    const label = document.createElement('label');
    const input = document.createElement('input');
    input.type = 'radio';
    input.name = 'run-on';
    input.value = value;
    input.checked = where === value;
    input.addEventListener('change', () => {
      if (!input.checked) return;
      where = value;
      storeWhere(value);
      document.body.dataset.runOn = value;
      if (value === 'browser') loadEngine().catch(() => {});
      onChange(value);
    });
    label.append(input, ` ${text}`);
    box.append(label);
  }
  // In the footer: a setting for the curious, and the header stays short
  // enough that a drawing's answer is in view on a phone.
  const foot = document.querySelector('.foot');
  if (foot) foot.prepend(box);
  else document.body.append(box);
  document.body.dataset.runOn = where;
  if (where === 'browser') loadEngine().catch(() => {});
}
