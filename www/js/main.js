// main.js - the digits page: send images (dropped, picked, pasted, drawn,
// photographed or chosen from the examples) to POST api/v1/predict (or, in
// number mode, api/v1/read) and show what the model answered. Each part of
// the page is one module that owns its elements and its state; this file
// only connects them:
//
//   models.js  the model chooser        -> model() for every request;
//                                          a new choice re-runs what is shown
//   mode.js    one digit or a number    -> mode() likewise
//   queue.js   the results list         <- files from drop, camera, gallery
//   shrink.js  big photos made smaller and upright before they are sent
//   drop.js    drop, pick, paste
//   camera.js  the live camera (and a photo kept from it)
//   gallery.js the example pictures
//   draw.js    the drawing pad and its own result card
//   cards.js   one result card: request, progress, answer or error
//   reading.js a number read: its text and its digits' boxes
//   compare.js "Compare all models" on a card
//   api.js     the HTTP API client (no DOM)
//   local.js   the same engine in WebAssembly, for "run on: this browser"
//   page.js    notice, live region, percentages, the curl example

import { camera } from './camera.js';
import { dropAndPaste } from './drop.js';
import { drawPad } from './draw.js';
import { gallery } from './gallery.js';
import { modeChooser } from './mode.js';
import { runOnSwitch } from './local.js';
import { modelChooser } from './models.js';
import { showApiExample } from './page.js';
import { uploadQueue } from './queue.js';

const models = modelChooser({
  onChange: () => {
    uploads.rerun();
    pad.rerun();
  },
});
const curlExample = () => showApiExample(mode.chosen() === 'number' ? 'read' : 'predict');
const mode = modeChooser({
  onChange: () => {
    uploads.rerun((job) => !job.mode);
    pad.rerun();
    curlExample();
  },
});
const uploads = uploadQueue({ model: models.chosen, mode: mode.chosen, models: models.list, onCleared: () => drop.focus() });
const drop = dropAndPaste({ addFiles: uploads.addFiles });
camera({ model: models.chosen, onPhoto: uploads.add });
gallery({ add: uploads.add });
const pad = drawPad({ model: models.chosen, mode: mode.chosen, models: models.list });
curlExample();
models.load();
// "Run on: server / this browser" (local.js): switching re-runs what is shown.
runOnSwitch({
  onChange: () => {
    uploads.rerun();
    pad.rerun();
  },
});
