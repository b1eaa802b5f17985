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

// The footer's curl example names this page's own API address.
export function showApiExample() {
  const url = $('#curl-url');
  if (url) url.textContent = new URL('api/v1/predict', document.baseURI).href;
}
