// queue.js - the results list and the upload queue behind it: one card per
// uploaded image, newest first, each sent in turn.
//
// Invariants:
// - At most UPLOAD_SLOTS uploads run at once, the rest wait in the queue, so
//   dropping a hundred files neither freezes the page nor floods the server.
// - Files dropped together start in the order given and show in that order
//   (above the older cards).
// - A card owns what it shows: its request, its object URL (revoked when the
//   card goes) and the blob to send again on Retry or with another model.
// - Focus never falls to <body>: removing a card moves it to the next card's
//   remove button (or the previous one, or onCleared when none is left), and
//   Retry moves it to the card itself, whose Retry button goes away.

import { makeCard, runCard, setCardState } from './cards.js';
import { $, announce } from './page.js';
import { prepareUpload } from './shrink.js';

const UPLOAD_SLOTS = 3;

// Wires the results list (#cards, with #empty shown while it is empty and
// #clear-results, which removes every card and then calls onCleared).
// `model()` names the model to send when an upload starts, `mode()` what
// to read it as (mode.js) unless the card was added with its own mode;
// `models()` lists the models a card can compare. Returns
// {add(blob, name, {mode}), addFiles(files, fallbackName), rerun(which)}.
export function uploadQueue({ model, mode = () => 'digit', models, onCleared }) {
  const list = $('#cards');
  const empty = $('#empty');
  const clearButton = $('#clear-results');
  const waiting = [];
  const jobOf = new WeakMap(); // result card element -> its upload job
  let running = 0;
  // Pictures are prepared (shrink.js) one after another, so the uploads of
  // files dropped together also start in the order given.
  let lastPrepared = Promise.resolve();

  async function run(job) {
    const mine = new AbortController();
    job.controller = mine;
    if (!job.ready) {
      job.ready = lastPrepared.then(() => prepareUpload(job.blob, job.name));
      lastPrepared = job.ready;
    }
    const { blob, name, note } = await job.ready;
    const how = { model: model(), mode: job.mode || mode(), models, picture: job.url, signal: mine.signal, note };
    const said = job.removed || mine.signal.aborted ? null : await runCard(job.el, blob, name, how);
    if (job.controller === mine) job.controller = null;
    return said && said.replace(name, job.name);
  }

  function pump() {
    while (running < UPLOAD_SLOTS && waiting.length) {
      const job = waiting.shift();
      job.waiting = false;
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
    if (job.waiting) return;
    setCardState(job.el, 'queued', 'Waiting…');
    job.waiting = true;
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

  function removeAndRefocus(job) {
    const next = job.el.nextElementSibling || job.el.previousElementSibling;
    remove(job);
    if (next) $('.card-close', next).focus();
    else onCleared();
  }

  // A card for `blob` (not yet sent); `before` is the card to insert it in
  // front of (null: at the top).
  function place(blob, name, before) {
    const el = makeCard(name);
    const job = { el, blob, name, url: URL.createObjectURL(blob), controller: null, removed: false, waiting: false, ready: null, mode: null };
    const original = $('.card-original', el);
    original.decoding = 'async';
    original.src = job.url;
    original.addEventListener('error', () => original.classList.add('broken'), { once: true });
    $('.card-retry', el).addEventListener('click', () => {
      el.focus();
      enqueue(job);
    });
    $('.card-close', el).addEventListener('click', () => removeAndRefocus(job));
    jobOf.set(el, job);
    list.insertBefore(el, before);
    return job;
  }

  // `mode`, when given, is the card's own (the gallery's number is always
  // read as a number), whatever the page's choice.
  function add(blob, name, { mode: own = null } = {}) {
    const job = place(blob, name, list.firstElementChild);
    job.mode = own;
    updateEmpty();
    enqueue(job);
  }

  function addFiles(files, fallbackName = 'image') {
    const all = [...files];
    const top = list.firstElementChild;
    const jobs = all.map((f) => place(f, f.name || fallbackName, top));
    updateEmpty();
    for (const job of jobs) enqueue(job);
    if (all.length > 1) announce(`${all.length} images sent.`);
  }

  // Sends every card again (the model changed), or those `which(job)`
  // picks (the mode changed: not the cards with their own): running ones
  // are cancelled and queued afresh, so each card ends with the new answer.
  function rerun(which = () => true) {
    for (const el of [...list.children]) {
      const job = jobOf.get(el);
      if (!job || job.removed || !which(job)) continue;
      if (job.controller) job.controller.abort();
      enqueue(job);
    }
  }

  clearButton.addEventListener('click', () => {
    for (const el of [...list.children]) remove(jobOf.get(el));
    onCleared();
  });
  updateEmpty();

  return { add, addFiles, rerun };
}
