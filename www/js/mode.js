// mode.js - what a picture is read as: one digit (POST api/v1/predict) or a
// number, a line of digits (POST api/v1/read). The choice is two radio
// buttons beside the model chooser, kept in localStorage.
//
// Invariant: <body data-mode> always says the current choice, so style.css
// shows the words that fit it (.for-digit, .for-number) and tests can wait
// on it.

import { announce } from './page.js';

const MODE_KEY = 'digits.mode';
export const MODES = ['digit', 'number'];

function storedMode() {
  try {
    return localStorage.getItem(MODE_KEY) || '';
  } catch {
    return ''; // storage disabled: the choice lasts for this page only
  }
}

function storeMode(mode) {
  try {
    localStorage.setItem(MODE_KEY, mode);
  } catch {
    /* see storedMode */
  }
}

// Wires the radio buttons (input[name="mode"]); returns {chosen()}:
// 'digit' or 'number'. onChange(mode) runs when the visitor picks the other.
export function modeChooser({ onChange = () => {} } = {}) {
  const radios = [...document.querySelectorAll('input[name="mode"]')];
  const show = (mode) => {
    document.body.dataset.mode = mode;
    for (const r of radios) r.checked = r.value === mode;
  };
  const stored = storedMode();
  show(MODES.includes(stored) ? stored : 'digit');
  for (const r of radios) {
    r.addEventListener('change', () => {
      if (!r.checked) return;
      show(r.value);
      storeMode(r.value);
      announce(r.value === 'number' ? 'Pictures are now read as numbers.' : 'Pictures are now read as one digit.');
      onChange(r.value);
    });
  }
  return { chosen: () => document.body.dataset.mode };
}
