// reading.js - a number read from a picture (POST api/v1/read) shown on a
// result card: the text, how sure, each digit with its own certainty, and a
// box around each digit drawn over the picture that was sent.
//
// Boxes come in the uploaded picture's pixels (after EXIF rotation). The
// picture shown may be the file before shrink.js made it smaller, so the
// boxes are drawn in an SVG whose viewBox is the uploaded size and which
// covers the shown picture exactly: the browser scales them to what is
// shown, whatever its size on screen.
//
// Invariant: an uncertain reading never shows its text as the answer; it
// says so in words (page.js doubtWords) and marks its doubtful digits.

import { $, doubtWords, percent } from './page.js';

const SVG = 'http://www.w3.org/2000/svg';

// Draws the digits' boxes into `svg` (any <svg> laid over a picture of
// width x height pixels); `doubtAll` marks every box doubtful, not only
// the digits flagged uncertain.
export function drawBoxes(svg, digits, width, height, doubtAll = false) {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  for (const d of digits) {
    const b = d.box;
    if (!b) continue;
    const rect = document.createElementNS(SVG, 'rect');
    for (const [k, v] of [['x', b.x], ['y', b.y], ['width', b.w], ['height', b.h]]) rect.setAttribute(k, String(v));
    rect.setAttribute('class', d.uncertain || doubtAll ? 'box box-uncertain' : 'box');
    rect.dataset.digit = String(d.digit);
    svg.append(rect);
  }
}

// The size the boxes are measured in: the server's view of the upload, or
// failing that the picture's own.
function frameOf(r, img) {
  const im = r.image || {};
  if (im.width > 0 && im.height > 0) return [im.width, im.height];
  return [img.naturalWidth || 1, img.naturalHeight || 1];
}

// Shows reading `r` on card `el`. `picture` is the URL of what was sent (the
// card's picture, drawn with its boxes); `boxes`, when given, is an <svg>
// elsewhere to draw them in instead (the drawing pad's overlay).
// Returns the sentence for the live region.
export function showReading(el, r, { picture, boxes } = {}) {
  const digits = Array.isArray(r.digits) ? r.digits : [];
  const doubt = doubtWords(r);
  el.dataset.text = r.text;
  delete el.dataset.digit; // a single digit's, when the card was one before
  el.dataset.uncertain = doubt ? r.uncertain_reason || 'low_confidence' : '';
  const doubtAll = !!doubt && !digits.some((d) => d.uncertain);
  const answer = $('.card-digit', el);
  answer.textContent = doubt ? '?' : r.text;
  answer.classList.toggle('card-digit-long', !doubt && r.text.length > 4);
  const sure = typeof r.confidence === 'number' ? r.confidence : 0;
  $('.card-prob', el).textContent = doubt || `${percent(sure)} sure of all ${digits.length} digits`;
  if (digits.length === 1 && !doubt) $('.card-prob', el).textContent = `${percent(sure)} sure`;

  const list = $('.card-reading-digits', el);
  list.replaceChildren(
    ...digits.map((d) => {
      const li = document.createElement('li');
      const p = typeof d.confidence === 'number' ? d.confidence : d.probability;
      li.className = d.uncertain ? 'chip chip-uncertain' : 'chip';
      li.textContent = `${d.uncertain ? '?' : d.digit} ${percent(Number(p) || 0)}`;
      li.title = d.uncertain ? `maybe ${d.digit}; ${d.uncertain_reason === 'ambiguous' ? 'two digits nearly as likely' : 'may not be a digit'}` : '';
      return li;
    }),
  );

  const figure = $('.card-reading', el); // none on the drawing's card
  if (boxes) {
    // The pad is the picture sent, byte for byte: the server's size is its own.
    const im = r.image || {};
    if (im.width > 0 && im.height > 0) drawBoxes(boxes, digits, im.width, im.height, doubtAll);
  } else if (figure && picture) {
    const img = $('.card-reading-image', figure);
    figure.hidden = false;
    if (img.getAttribute('src') !== picture) img.src = picture;
    const [w, h] = frameOf(r, img);
    $('.card-reading-view', figure).style.setProperty('--ar', String(w / h));
    drawBoxes($('.card-boxes', figure), digits, w, h, doubtAll);
  }
  return doubt || `read as ${r.text}, ${percent(sure)} sure.`;
}
