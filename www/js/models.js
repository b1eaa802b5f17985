// models.js - the model chooser: fills the <select> from GET api/v1/models,
// keeps the choice in localStorage and says which model to send.
//
// Invariant: when the list cannot be loaded the page still works, with the
// server's default model (chosen() is then '').

import { fetchModels } from './api.js';
import { $, announce, percent, showNotice } from './page.js';

const MODEL_KEY = 'digits.model';

function storedModel() {
  try {
    return localStorage.getItem(MODEL_KEY) || '';
  } catch {
    return ''; // storage disabled: the choice lasts for this page only
  }
}

function storeModel(name) {
  try {
    localStorage.setItem(MODEL_KEY, name);
  } catch {
    /* see storedModel */
  }
}

function modelLabel(m) {
  let label = m.default ? `${m.name} (default)` : m.name;
  if (typeof m.test_accuracy === 'number') label += ` · ${percent(m.test_accuracy)} accurate`;
  return label;
}

function modelTitle(m) {
  const facts = [];
  if (typeof m.test_accuracy === 'number') facts.push(`${percent(m.test_accuracy)} of the 10,000 MNIST test digits right`);
  if (typeof m.params === 'number') facts.push(`${m.params.toLocaleString('en')} parameters`);
  return facts.join(', ');
}

// Wires the chooser (#model); returns {load(), chosen(), list()}: load()
// fills it (once), chosen() is the model name to send, '' for the server's
// default, list() the models as GET api/v1/models gave them ([] until then).
// onChange(name) runs when the visitor picks another model.
export function modelChooser({ onChange = () => {} } = {}) {
  const select = $('#model');
  let list = [];
  select.addEventListener('change', () => {
    storeModel(select.value);
    announce(`Model ${select.value} chosen; the results are being recognised again.`);
    onChange(select.value);
  });

  async function load() {
    const { models, why } = await fetchModels();
    if (!models) {
      select.replaceChildren(new Option('server default', ''));
      showNotice(`Could not load the list of models: ${why}. Recognition uses the server's default model.`);
      return;
    }
    list = models;
    select.replaceChildren(
      ...models.map((m) => {
        const o = new Option(modelLabel(m), m.name);
        o.title = modelTitle(m);
        return o;
      }),
    );
    const wanted = storedModel();
    const chosen = models.find((m) => m.name === wanted) || models.find((m) => m.default) || models[0];
    if (chosen) select.value = chosen.name;
    select.disabled = false;
    document.body.dataset.models = 'ready'; // lets tests and scripts wait for the list
  }

  return { load, chosen: () => select.value, list: () => list };
}
