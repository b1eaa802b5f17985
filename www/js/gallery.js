// gallery.js - example pictures for a visitor with no digit at hand: each
// button (.example, data-src and data-name) sends its picture, like a
// dropped file, on one click; one with data-mode="number" is always read
// as a number. The pictures are MNIST test digits made by the project's own
// tools (see "make examples" in www/www.mk).
//
// Invariant: an example that cannot be loaded says so in the notice; the
// rest of the page is unaffected.

import { $, showNotice } from './page.js';

// On a phone the results are far below the gallery: bring the new card
// (the first) to the top of the screen, where its answer will show.
function showNewest() {
  const card = $('#cards .card');
  if (!card) return;
  const top = card.getBoundingClientRect().top;
  if (top < 0 || top > window.innerHeight - 120) card.scrollIntoView({ block: 'start' });
}

// Wires every .example button; each picture goes to
// add(blob, name, {mode}) (mode undefined: the page's choice).
export function gallery({ add }) {
  for (const button of document.querySelectorAll('.example')) {
    button.setAttribute('aria-label', `Try an example: ${button.dataset.name.replace(/^example: /, '')}`);
    button.addEventListener('click', async () => {
      try {
        const res = await fetch(button.dataset.src);
        if (!res.ok) throw new Error(`it answered ${res.status}`);
        add(await res.blob(), button.dataset.name, { mode: button.dataset.mode });
        showNewest();
      } catch (err) {
        showNotice(`The example could not be loaded: ${err.message}.`);
      }
    });
  }
}
