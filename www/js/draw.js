// draw.js - the drawing pad: strokes drawn with a mouse, finger or pen, sent
// as a PNG when each stroke ends; Undo (Ctrl+Z) and Clear; one result card
// (#draw-result).
//
// Where the card goes: it must be in view while the visitor draws. With two
// columns (wide screens) that is the top of the results column, beside the
// pad; with one column (phones) it is right under the pad's buttons, in a
// compact form (the bars as one row).
//
// Invariants:
// - The strokes are the drawing: the canvas is repainted from them, so the
//   colour scheme can change and Undo is a pop.
// - At most one request for the drawing is alive: a newer one aborts the
//   older, so a slow answer never overwrites a fresher one.

import { makeCard, runCard } from './cards.js';
import { $, announce } from './page.js';

const TWO_COLUMNS = '(min-width: 56rem)'; // style.css's two-column layout

// Wires the pad (#pad, #undo, #clear); `model()` names the model to send,
// `mode()` what to read the drawing as (in number mode the digits' boxes
// are drawn over the pad, in #pad-boxes); `models()` lists the models its
// card can compare. Returns {rerun()}, which sends the drawing again (the
// model or the mode changed).
export function drawPad({ model, mode = () => 'digit', models }) {
  const pad = $('#pad');
  const padBoxes = $('#pad-boxes');
  const undoButton = $('#undo');
  const clearButton = $('#clear');
  const ctx = pad.getContext('2d');
  const strokes = []; // each stroke: array of [x, y] in canvas pixels
  let current = null; // the stroke being drawn
  let request = null; // the AbortController of the latest request

  const card = makeCard('your drawing');
  card.id = 'draw-result';
  card.classList.add('card-drawing');
  $('.card-close', card).remove();
  $('.card-images figure', card).remove(); // the pad itself shows what was sent
  $('.card-reading', card).remove(); // and the boxes of a number are drawn on it
  // "Compare all models" in the title row, where the remove button of an
  // upload's card is: the card stays as short as before, on a phone too.
  $('.card-head', card).append($('.card-actions', card));
  card.hidden = true;
  const wide = window.matchMedia(TWO_COLUMNS);
  const placeCard = () => $(wide.matches ? '#draw-slot-results' : '#draw-slot-pad').append(card);
  wide.addEventListener('change', placeCard);
  placeCard();

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
    undoButton.disabled = strokes.length === 0;
    clearButton.disabled = strokes.length === 0;
  }

  function padPoint(e) {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
  }

  function resetCard() {
    padBoxes.replaceChildren();
    if (request) request.abort();
    request = null;
    card.hidden = true;
    announce('Drawing cleared.');
  }

  // Each finished stroke sends the whole pad.
  function predict() {
    pad.toBlob((blob) => {
      if (!blob || !strokes.length) return;
      if (request) request.abort();
      const mine = new AbortController();
      request = mine;
      card.hidden = false;
      padBoxes.replaceChildren();
      const how = { model: model(), mode: mode(), models, boxes: padBoxes, signal: mine.signal };
      runCard(card, blob, 'drawing.png', how).then((said) => {
        if (said && request === mine) announce(said.replace('drawing.png', 'Your drawing'));
      });
    }, 'image/png');
  }

  pad.addEventListener('pointerdown', (e) => {
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    padBoxes.replaceChildren(); // they were the last answer's, not this drawing's
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
    predict();
  }
  pad.addEventListener('pointerup', endStroke);
  pad.addEventListener('pointercancel', endStroke);

  undoButton.addEventListener('click', () => {
    strokes.pop();
    redraw();
    if (strokes.length) predict();
    else resetCard();
  });
  clearButton.addEventListener('click', () => {
    strokes.length = 0;
    redraw();
    resetCard();
  });
  $('.card-retry', card).addEventListener('click', () => {
    card.focus(); // the Retry button goes away under the focus
    predict();
  });

  // Ctrl+Z (Cmd+Z) undoes a stroke, except where it edits a form control.
  document.addEventListener('keydown', (e) => {
    if (!(e.ctrlKey || e.metaKey) || e.shiftKey || e.altKey || e.key.toLowerCase() !== 'z') return;
    if (!strokes.length || (e.target instanceof Element && e.target.closest('input, select, textarea'))) return;
    e.preventDefault();
    undoButton.click();
  });

  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', redraw);
  redraw();
  return { rerun: () => strokes.length && predict() };
}
