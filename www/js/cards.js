// cards.js - a result card: built from #card-template, it shows one
// upload's progress, then the digit, the ten probabilities, the 28x28 the
// model saw and the timings (or, in number mode, the number read and its
// digits' boxes: reading.js), or a plain account of what went wrong; and
// offers to compare every model on the same picture (compare.js).
//
// Invariants:
// - A card's state is data-state: queued, loading, done or error; aria-busy
//   follows it. data-mode is what it was read as (digit or number);
//   data-digit (data-text for a number) holds the answer, data-uncertain
//   why it may be wrong (empty when sure), data-error the server's error
//   code (request_failed when the server named none).
// - The only inline styles are CSS custom properties (--p of each bar, --ar
//   of a number's picture: reading.js), set through the CSSOM, which the
//   page's Content-Security-Policy (style-src 'self') allows.

import { IMAGE_FORMATS, TIMEOUT_MS, postImage } from './api.js';
import { compareModels, dropComparison } from './compare.js';
import { $, announce, doubtWords, percent } from './page.js';
import { showReading } from './reading.js';
import { predictLocal, runsInBrowser } from './local.js'; // "run on: this browser"

const template = $('#card-template');
// What each card last sent ({blob, name, mode, model, models}) and its
// comparison running, if any (an AbortController), for "Compare all models".
const sentOf = new WeakMap();
const comparing = new WeakMap();

function span(className, text = '') {
  const s = document.createElement('span');
  s.className = className;
  s.textContent = text;
  return s;
}

// A new card (not yet in the document) titled `name`.
export function makeCard(name) {
  const el = template.content.firstElementChild.cloneNode(true);
  $('.card-name', el).textContent = name;
  $('.card-name', el).title = name;
  // Each remove button says which result it removes; the card itself takes
  // focus (not tabbable) when its own buttons vanish under the focus.
  $('.card-close', el).setAttribute('aria-label', `Remove the result for ${name}`);
  el.tabIndex = -1;
  const compare = $('.card-compare-button', el);
  compare.setAttribute('aria-label', `Compare all models on ${name}`);
  compare.addEventListener('click', () => startComparison(el));
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

// A queued card shows no bar (it waits: nothing moves); a loading one shows
// the upload's progress, indeterminate (moving) until there is some.
export function setCardState(el, state, progressText) {
  el.dataset.state = state;
  if (state === 'queued' || state === 'loading') $('progress', el).removeAttribute('value');
  el.setAttribute('aria-busy', String(state === 'loading' || state === 'queued'));
  if (progressText) $('.card-progress-text', el).textContent = progressText;
}

// The explanation map over what the model saw (explain=1), captioned with
// its method: Grad-CAM for the convolutional models, saliency for mlp.
function showWhy(el, ex) {
  const fig = $('.card-why-figure', el);
  const ok = ex && typeof ex.png === 'string' && ex.png.startsWith('data:image/png');
  fig.hidden = !ok;
  if (!ok) return;
  const img = $('.card-why', el);
  img.src = ex.png;
  img.alt = `Why ${ex.class}: where the model found its evidence (${ex.method})`;
  $('.card-why-caption', el).textContent = `why (${ex.method})`;
  el.dataset.explained = ex.method;
}

function showResult(el, r) {
  const digit = r.digit;
  const doubt = doubtWords(r);
  el.dataset.digit = String(digit);
  delete el.dataset.text; // a number's, when the card was read as one before
  el.dataset.uncertain = doubt ? r.uncertain_reason || 'uncertain' : '';
  const answer = $('.card-digit', el);
  answer.textContent = doubt ? '?' : String(digit);
  answer.classList.remove('card-digit-long');
  $('.card-prob', el).textContent = doubt || `${percent(r.probability)} sure`;
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
  showWhy(el, r.explanation);
  return doubt || `${digit}, ${percent(r.probability)} sure.`;
}

// The model, the times and what the page did to the picture.
function showMeta(el, r, roundTripMs, note) {
  const parts = [];
  if (r.model && r.model.name) parts.push(r.model.name);
  // local.js: a card says where it ran (data-where) and that place's time.
  el.dataset.where = r.where === 'browser' ? 'browser' : 'server';
  if (r.where === 'browser') {
    parts.push(`${r.timing_ms.total.toFixed(1)} ms in this browser (${r.timing_ms.forward.toFixed(2)} ms the model${r.simd ? ', SIMD' : ''})`);
  } else {
    if (r.timing_ms && typeof r.timing_ms.total === 'number') parts.push(`${r.timing_ms.total.toFixed(1)} ms on the server`);
    parts.push(`${Math.round(roundTripMs)} ms round trip`);
  }
  if (note) parts.push(note);
  $('.card-meta', el).textContent = parts.join(' · ');
  setCardState(el, 'done');
}

function formatList(names) {
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

// What to tell a person about a failed upload (an outcome of postImage): a
// plain first sentence, then the server's own message when it sent one.
export function describeFailure({ status, error }) {
  // Failures the server did not name itself are request_failed.
  const unnamed = (plain) => ({ plain, detail: '', code: 'request_failed' });
  if (status === null) {
    if (error.code === 'timeout') return unnamed(`The server did not answer within ${TIMEOUT_MS / 1000} s. Try again in a moment.`);
    if (error.code === 'offline') return unnamed('Your device is offline. Retry when it is connected.');
    return unnamed('The server could not be reached. Check your connection, or try again in a moment.');
  }
  if (status >= 200 && status < 300) return unnamed('The server answered something this page does not understand.');
  let plain;
  if (status === 413) plain = 'This file is too large for the server.';
  else if (status === 415) plain = `This is not an image the server can read (${formatList(IMAGE_FORMATS)}).`;
  else if (status === 422) plain = 'No digit could be found in this image.';
  else if (status === 400) plain = 'The server could not use this request.';
  else if (status === 503) plain = 'The server is busy or not ready; try again in a moment.';
  else if (status >= 500) plain = `The server failed (${status}).`;
  else plain = `Unexpected answer from the server (${status}).`;
  return { plain, detail: error.message, code: error.code || 'request_failed' };
}

function showError(el, failure) {
  $('.card-error-text', el).textContent = failure.plain;
  $('.card-error-detail', el).textContent = failure.detail ? `Server: ${failure.detail}` : '';
  el.dataset.error = failure.code;
  setCardState(el, 'error');
}

// Runs "Compare all models" for card `el` on what it last sent.
async function startComparison(el) {
  const sent = sentOf.get(el);
  const models = sent && sent.models ? sent.models() : [];
  if (!models.length) return;
  const button = $('.card-compare-button', el);
  const mine = new AbortController();
  comparing.set(el, mine);
  button.disabled = true;
  const said = await compareModels(el, sent, models, { current: sent.model, signal: mine.signal });
  if (comparing.get(el) !== mine) return; // the card was sent again meanwhile
  comparing.delete(el);
  button.disabled = false;
  announce(said);
}

// Sends `blob` (called `name`) with `model` and shows the outcome on card
// `el`; `signal` cancels the request; `note` (what the page did to the
// picture, e.g. made it smaller) joins the card's facts. `mode` 'number'
// reads it as a number (api/v1/read): `picture` is then the URL of the
// picture to draw the boxes over, or `boxes` an <svg> to draw them in
// (reading.js). `models()` lists the models "Compare all models" asks
// (none: no button). Resolves to the sentence for the live region, or null
// when cancelled.
export async function runCard(el, blob, name, { model, signal, note, mode = 'digit', picture, boxes, models } = {}) {
  const bar = $('progress', el);
  if (comparing.has(el)) comparing.get(el).abort();
  comparing.delete(el);
  dropComparison(el);
  $('.card-compare-button', el).disabled = false;
  $('.card-compare-button', el).hidden = !(models && models().length);
  sentOf.set(el, { blob, name, mode, model, models });
  el.dataset.mode = mode;
  setCardState(el, 'loading', 'Uploading…');
  // Reading a number is the server's alone (local.js predicts single digits).
  const res = await (runsInBrowser() && mode !== 'number' ? predictLocal : postImage)(blob, name, {
    model,
    signal,
    read: mode === 'number',
    onProgress: (f) => {
      if (f < 1) bar.value = f;
      else {
        bar.removeAttribute('value'); // indeterminate while the model runs
        $('.card-progress-text', el).textContent = 'Recognising…';
      }
    },
  });
  if (res.ok) {
    const r = res.prediction;
    const said = mode === 'number' ? showReading(el, r, { picture, boxes }) : showResult(el, r);
    showMeta(el, r, res.ms, note);
    return `${name}: ${said}`;
  }
  if (res.error.code === 'aborted') return null;
  const failure = describeFailure(res);
  showError(el, failure);
  return `${name}: ${failure.plain}`;
}
