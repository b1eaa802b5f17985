// page.js - what every part of the page shares: the element lookup, the
// notice above the page, the live region that screen readers read, and how
// a probability is written.
//
// Invariant: nothing is written as HTML from data; text goes in through
// textContent.

export const $ = (sel, root = document) => root.querySelector(sel);

const notice = $('#notice');
const liveRegion = $('#announce');

// A problem with the page as a whole (no model list, no camera).
export function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
}

// Says `text` to screen readers (role="status", polite).
export function announce(text) {
  liveRegion.textContent = text;
}

// A softmax never reaches 0 or 1: say ">99.9 %" rather than the "100.0 %"
// that float rounding would print.
export function percent(p) {
  if (p >= 0.9995) return '>99.9 %';
  if (p > 0 && p < 0.001) return '<0.1 %';
  return `${(p * 100).toFixed(1)} %`;
}
