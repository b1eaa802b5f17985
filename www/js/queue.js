// queue.js - the results list and the upload queue behind it: one card per
// uploaded image, newest first, each sent in turn.
//
// Invariants:
// - At most UPLOAD_SLOTS uploads run at once, the rest wait in the queue, so
//   dropping a hundred files neither freezes the page nor floods the server.
// - A card owns what it shows: its request, its object URL (revoked when the
//   card goes) and the blob to send again on Retry.

import { makeCard, runCard, setCardState } from './cards.js';
import { $, announce } from './page.js';

const UPLOAD_SLOTS = 3;

// Wires the results list (#cards, with #empty shown while it is empty and
// #clear-results, which removes every card and then calls onCleared).
// `model()` names the model to send when an upload starts. Returns
// {add(blob, name), addFiles(files, fallbackName)}.
export function uploadQueue({ model, onCleared }) {
  const list = $('#cards');
  const empty = $('#empty');
  const clearButton = $('#clear-results');
  const waiting = [];
  const jobOf = new WeakMap(); // result card element -> its upload job
  let running = 0;

  async function run(job) {
    job.controller = new AbortController();
    const said = await runCard(job.el, job.blob, job.name, { model: model(), signal: job.controller.signal });
    job.controller = null;
    return said;
  }

  function pump() {
    while (running < UPLOAD_SLOTS && waiting.length) {
      const job = waiting.shift();
      if (job.removed) continue;
      running++;
      run(job).then((said) => {
        running--;
        if (said) announce(said);
        pump();
      });
    }
  }

  function enqueue(job) {
    setCardState(job.el, 'queued', 'Waiting…');
    waiting.push(job);
    pump();
  }

  function updateEmpty() {
    const any = list.children.length > 0;
    empty.hidden = any;
    clearButton.hidden = !any;
  }

  function remove(job) {
    job.removed = true;
    if (job.controller) job.controller.abort();
    URL.revokeObjectURL(job.url);
    job.el.remove();
    updateEmpty();
  }

  function add(blob, name) {
    const el = makeCard(name);
    const job = { el, blob, name, url: URL.createObjectURL(blob), controller: null, removed: false };
    const original = $('.card-original', el);
    original.decoding = 'async';
    original.src = job.url;
    original.addEventListener('error', () => original.classList.add('broken'), { once: true });
    $('.card-retry', el).addEventListener('click', () => enqueue(job));
    $('.card-close', el).addEventListener('click', () => remove(job));
    jobOf.set(el, job);
    list.prepend(el);
    updateEmpty();
    enqueue(job);
  }

  function addFiles(files, fallbackName = 'image') {
    const all = [...files];
    // Newest first on screen, but in the order given: prepend in reverse.
    for (const f of all.reverse()) add(f, f.name || fallbackName);
    if (all.length > 1) announce(`${all.length} images sent.`);
  }

  clearButton.addEventListener('click', () => {
    for (const el of [...list.children]) remove(jobOf.get(el));
    onCleared();
  });
  updateEmpty();

  return { add, addFiles };
}
