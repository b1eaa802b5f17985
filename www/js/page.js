// page.js - what every part of the page shares: the element lookup, the
// notice above the page, the live region that screen readers read, and how
// a probability is written.
//
// Invariant: nothing is written as HTML from data; text goes in through
// textContent.

export const $ = (sel, root = document) => root.querySelector(sel);

const notice = $('#notice');
const liveRegion = $('#announce');

// A touch screen (no hovering mouse) gets words for a finger: style.css
// shows .touch-only and hides .pointer-only under html.touch. Decided once,
// at load.
document.documentElement.classList.toggle('touch', window.matchMedia('(hover: none) and (pointer: coarse)').matches);

// A problem with the page as a whole (no model list, no camera).
export function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
}

// Says `text` to screen readers. The region is a polite log: each
// sentence is a new line, so several results arriving together are all
// read, not only the last; the oldest lines go after LOG_LINES.
const LOG_LINES = 10;
export function announce(text) {
  const line = document.createElement('p');
  line.textContent = text;
  liveRegion.append(line);
  while (liveRegion.childElementCount > LOG_LINES) liveRegion.firstElementChild.remove();
}

// A softmax never reaches 0 or 1: say ">99.9 %" rather than the "100.0 %"
// that float rounding would print.
export function percent(p) {
  if (p >= 0.9995) return '>99.9 %';
  if (p > 0 && p < 0.001) return '<0.1 %';
  return `${(p * 100).toFixed(1)} %`;
}

// The footer's curl example names this page's own API address: predict,
// or read in number mode.
export function showApiExample(endpoint = 'predict') {
  const url = $('#curl-url');
  if (url) url.textContent = new URL(`api/v1/${endpoint}`, document.baseURI).href;
}

// Words for an answer the server marked uncertain (#13), or null when it is
// sure: a visitor reads "this may not be a digit", never a confident digit.
// `r` is a prediction ({digit, probabilities, uncertain_reason}) or a
// reading ({text, confidence, uncertain_reason}). A reading's confidence is
// the chance that all its digits are right: below LOW_READING it is more
// likely wrong than right, and said so even when no single digit is flagged
// (a dash drawn on the pad came back "00100", 37.8 %, not flagged).
export const LOW_READING = 0.5;
export function doubtWords(r) {
  if (!r) return null;
  const number = typeof r.text === 'string';
  if (!r.uncertain) {
    if (!number || !(r.confidence < LOW_READING)) return null;
    return `Not sure: this may not be a number (the closest reading, ${r.text}, is ${percent(r.confidence)} sure).`;
  }
  if (r.uncertain_reason === 'ambiguous' && !number && Array.isArray(r.probabilities)) {
    const [a, b] = r.probabilities.map((p, d) => [Number(p) || 0, d]).sort((x, y) => y[0] - x[0]);
    return `Not sure: this may be a ${a[1]} or a ${b[1]}.`;
  }
  if (r.uncertain_reason === 'ambiguous') return `Not sure of every digit: the closest reading is ${r.text}.`;
  return number ? `This may not be a number (the closest reading is ${r.text}).` : `This may not be a digit (the closest is ${r.digit}).`;
}
