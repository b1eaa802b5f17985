// main.js - the digits page: send images (dropped, picked, pasted, drawn or
// photographed) to POST api/v1/predict and show what the model answered.
// Each part of the page is one module that owns its elements and its state;
// this file only connects them:
//
//   models.js  the model chooser        -> model() for every request
//   queue.js   the results list         <- files from drop.js and camera.js
//   drop.js    drop, pick, paste
//   camera.js  a photo from the camera
//   draw.js    the drawing pad and its own result card
//   cards.js   one result card: request, progress, answer or error
//   api.js     the HTTP API client (no DOM)
//   page.js    notice, live region, percentages

import { camera } from './camera.js';
import { dropAndPaste } from './drop.js';
import { drawPad } from './draw.js';
import { modelChooser } from './models.js';
import { uploadQueue } from './queue.js';

const models = modelChooser();
const uploads = uploadQueue({ model: models.chosen, onCleared: () => drop.focus() });
const drop = dropAndPaste({ addFiles: uploads.addFiles });
camera({ onPhoto: uploads.add });
drawPad({ model: models.chosen });
models.load();
