// compare.js - "Compare all models" on a result card: the card's picture
// sent once to every model the server offers (GET api/v1/models: the float
// models and their int8 variants), each answer in one row of a table on the
// card: the model, its digit (or number), how sure, and the server's time.
//
// Invariants:
// - The models are asked one after another, not all at once: the times are
//   then each model's own, not a share of a crowded server.
// - A comparison belongs to the answer it sits under: sending the card
//   again (another model, Retry) aborts it and removes its table.

import { postImage } from './api.js';
import { $, doubtWords, percent } from './page.js';

function cell(tag, text, className) {
  const c = document.createElement(tag);
  c.textContent = text;
  if (className) c.className = className;
  return c;
}

// The table under card `el`, empty, made when first needed.
function tableOf(el) {
  let box = $('.card-compare', el);
  if (!box) {
    box = document.createElement('div');
    box.className = 'card-compare';
    const table = document.createElement('table');
    table.className = 'compare';
    table.append(cell('caption', 'Every model on this picture'));
    const head = document.createElement('tr');
    for (const h of ['model', 'answer', 'sure', 'server']) {
      const th = cell('th', h);
      th.scope = 'col';
      head.append(th);
    }
    table.createTHead().append(head);
    table.createTBody();
    box.append(table);
    $('.card-meta', el).after(box);
  }
  box.hidden = false;
  const body = $('tbody', box);
  body.replaceChildren();
  return body;
}

// Removes card `el`'s comparison (its answer changed).
export function dropComparison(el) {
  const box = $('.card-compare', el);
  if (box) box.remove();
}

// One row filled from an outcome of postImage.
function fillRow(row, res, number) {
  const [, answer, sure, time] = row.children;
  if (!res.ok) {
    row.dataset.state = 'error';
    answer.textContent = res.error.code === 'aborted' ? 'stopped' : 'failed';
    answer.title = res.error.message || '';
    return;
  }
  const r = res.prediction;
  const doubt = doubtWords(r);
  const said = number ? r.text : String(r.digit);
  row.dataset.state = 'done';
  row.dataset.answer = said;
  if (doubt) row.dataset.uncertain = r.uncertain_reason || 'low_confidence';
  answer.textContent = doubt ? `? (${said})` : said;
  answer.title = doubt || '';
  sure.textContent = percent(number ? r.confidence || 0 : r.probability);
  time.textContent = r.timing_ms && typeof r.timing_ms.total === 'number' ? `${r.timing_ms.total.toFixed(1)} ms` : '';
  time.title = `${Math.round(res.ms)} ms round trip`;
}

// Sends `sent` ({blob, name, mode}) to each of `models` (GET api/v1/models'
// list) and fills card `el`'s table as the answers come; `current` is the
// card's own model (its row is marked). Resolves to the sentence for the
// live region; `signal` stops it.
export async function compareModels(el, sent, models, { current, signal } = {}) {
  const body = tableOf(el);
  const number = sent.mode === 'number';
  const rows = models.map((m) => {
    const row = document.createElement('tr');
    row.dataset.model = m.name;
    row.dataset.state = 'loading';
    if (m.name === current) row.classList.add('compare-current');
    const name = cell('th', m.name);
    name.scope = 'row';
    row.append(name, cell('td', '…'), cell('td', ''), cell('td', ''));
    body.append(row);
    return row;
  });
  const said = [];
  for (const [i, m] of models.entries()) {
    if (signal && signal.aborted) break;
    const res = await postImage(sent.blob, sent.name, { model: m.name, read: number, details: false, signal });
    fillRow(rows[i], res, number);
    if (res.ok) said.push(`${m.name} ${rows[i].dataset.answer}`);
  }
  return `${sent.name}, every model: ${said.join(', ')}.`;
}
