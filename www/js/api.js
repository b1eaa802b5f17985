// api.js - the page's client for the digits HTTP API (GET api/v1/models,
// POST api/v1/predict, POST api/v1/read). No DOM here: callers get plain
// outcome objects.
//
// Invariants:
// - Neither function rejects: every outcome, a network failure included,
//   comes back as a value the caller branches on in one place.
// - Every upload is one XMLHttpRequest (not fetch) for one image, for its
//   upload progress, abort and timeout.
// - URLs are relative, so the page works under any path prefix.

const API = 'api/v1/';

export const TIMEOUT_MS = 30000;

// What src/image/image_probe.c recognises from the magic bytes and libgd
// decodes (HEIF and AVIF where the libgd build has them, as Debian's does).
export const IMAGE_FORMATS = ['PNG', 'JPEG', 'GIF', 'BMP', 'WebP', 'TIFF', 'HEIF', 'AVIF'];

// The models the server offers: {models: [...]} or {why: 'a reason'}.
export async function fetchModels() {
  try {
    const res = await fetch(`${API}models`, { headers: { Accept: 'application/json' } });
    const body = await res.json().catch(() => null);
    if (res.ok && body && Array.isArray(body.models)) return { models: body.models };
    return { why: (body && body.error && body.error.message) || `the server answered ${res.status}` };
  } catch {
    return { why: 'the server could not be reached' };
  }
}

// The server's error object, as {code, message} with empty strings for what
// it left out.
function serverError(err) {
  return { code: (err && err.code) || '', message: (err && err.message) || '' };
}

// A reply for one image, or the first of a batch reply (predict's
// "predictions", read's "readings").
function firstPrediction(body) {
  if (body && Array.isArray(body.predictions)) return body.predictions[0] || null;
  if (body && Array.isArray(body.readings)) return body.readings[0] || null;
  return body;
}

// An answer: a prediction names a digit, a reading (api/v1/read) a text.
const isAnswer = (p) => p && (typeof p.digit === 'number' || typeof p.text === 'string');

// What an answer from the server amounts to (see postImage).
function outcomeOf(status, body, ms) {
  if (status < 200 || status >= 300) {
    return { ok: false, status, body, ms, prediction: null, error: serverError(body && body.error) };
  }
  const prediction = firstPrediction(body);
  if (isAnswer(prediction)) return { ok: true, status, body, ms, prediction, error: null };
  // A failed image inside a 200 batch reply carries its own error object.
  if (prediction && prediction.error) {
    return { ok: false, status: prediction.error.status || 500, body, ms, prediction: null, error: serverError(prediction.error) };
  }
  return { ok: false, status, body, ms, prediction: null, error: { code: 'bad_reply', message: '' } };
}

// POST one image (multipart field `image`) with preview=1 and explain=1
// (the 28x28 the model saw, and why it answered so) and, when given,
// `model`. Resolves to one outcome, never rejects:
//   {ok, status, body, ms, prediction, error}
// - ok: a prediction with a digit (or a reading with a text) came back
//   (`prediction`, the first of a batch reply); error is null.
// - otherwise error is {code, message}: the server's own error object (code
//   and message empty when it sent none, e.g. a proxy's HTML page), or, when
//   no usable answer came, one of the page's own codes with status null:
//   'unreachable', 'offline' (the browser knows it has no network),
//   'timeout' (only after timeoutMs), 'aborted'; and 'bad_reply' (status 2xx) for an
//   answer without a digit or an error.
// - status: the HTTP status; for a failed image inside a batch reply, that
//   image's status.
// `onProgress(fraction)` follows the upload; `signal` (an AbortSignal)
// cancels it.
// `details: false` leaves out preview and explain (the live camera's
// frames), `timeoutMs` replaces TIMEOUT_MS.
// `read: true` posts to api/v1/read instead: the picture is read as a
// number, and `prediction` is the reading ({text, digits: [...boxes]});
// preview and explain are predict's only.
export function postImage(blob, name, { model, onProgress, signal, details = true, timeoutMs = TIMEOUT_MS, read = false } = {}) {
  return new Promise((resolve) => {
    const params = new URLSearchParams(details && !read ? { preview: '1', explain: '1' } : {});
    if (model) params.set('model', model);
    const form = new FormData();
    form.append('image', blob, name);

    const xhr = new XMLHttpRequest();
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    const noAnswer = (code) => resolve({ ok: false, status: null, body: null, ms: elapsed(), prediction: null, error: { code, message: '' } });
    xhr.open('POST', `${API}${read ? 'read' : 'predict'}?${params}`);
    xhr.timeout = timeoutMs;
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
      resolve(outcomeOf(xhr.status, body, elapsed()));
    };
    xhr.onerror = () => noAnswer(navigator.onLine === false ? 'offline' : 'unreachable');
    // Only a request that really ran out of time is a timeout: a failure
    // reported early (a dropped connection) is the network's, and must not
    // claim that the server took 30 s.
    xhr.ontimeout = () => noAnswer(elapsed() >= timeoutMs - 50 ? 'timeout' : 'unreachable');
    xhr.onabort = () => noAnswer('aborted');
    if (signal) signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}
