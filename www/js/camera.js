// camera.js - the live camera: while the camera box is open, the part of
// the view inside the drawn square is sent again and again and its answer
// shown over the view (#live); "Keep a photo" hands the square on as a JPEG
// for a result card, like a phone picture.
//
// Invariants:
// - The camera runs only while its box is open; closing it stops every
//   track and the recognition loop. Without getUserMedia the "open" button
//   stays hidden.
// - At most one frame is in flight: a frame is taken only once the previous
//   answer (or failure) has come back, so frames are dropped, never queued,
//   and a slow or dead connection never piles requests up.
// - The view stays live whatever the network does; #live says how old the
//   last answer is and whether the page is reconnecting or offline
//   (data-state: starting, live, reconnecting, offline).

import { postImage } from './api.js';
import { predictLocal, runsInBrowser } from './local.js'; // "run on: this browser"
import { $, announce, percent, showNotice } from './page.js';

export const SQUARE = 0.7; // the drawn square: this share of the view's side (style.css .camera-square)
const FRAME_SIDE = 192; // pixels sent per frame: plenty for a 28x28 answer
const MIN_GAP_MS = 120; // at most about 8 frames a second on a fast server
const FRAME_TIMEOUT_MS = 4000;
const OFFLINE_AFTER = 3; // failures in a row before "reconnecting" becomes "offline"
const STEADY = 3; // answers in a row with the same digit before a screen reader hears it

// The square of the frame under the drawn square, drawn into `canvas`.
function cropSquare(video, canvas, side) {
  const full = Math.min(video.videoWidth, video.videoHeight);
  const s = full * SQUARE;
  canvas.width = canvas.height = side;
  canvas.getContext('2d').drawImage(video, (video.videoWidth - s) / 2, (video.videoHeight - s) / 2, s, s, 0, 0, side, side);
}

// Wires the camera box (#camera and its buttons); `model()` names the
// model to ask; each kept photo goes to onPhoto(blob, name).
export function camera({ model, onPhoto }) {
  const box = $('#camera');
  const video = $('#camera-video');
  const openButton = $('#camera-open');
  const shootButton = $('#camera-shoot');
  const live = $('#live');
  const liveDigit = $('#live-digit');
  const liveAnswer = $('#live-answer');
  const liveStatus = $('#live-status');
  const frame = document.createElement('canvas');
  let stream = null;
  let loop = null; // the running recognition loop: {stop()}

  function setLive(state, digit, answer) {
    live.dataset.state = state;
    if (digit !== undefined) {
      liveDigit.textContent = digit;
      live.dataset.digit = digit;
    }
    if (answer !== undefined) liveAnswer.textContent = answer;
  }

  // The loop: take a frame when none is in flight and the last answer is
  // at least MIN_GAP_MS old (or, after failures, a growing back-off).
  function startLoop() {
    let stopped = false;
    let inFlight = null; // AbortController of the frame on its way
    let nextAt = 0;
    let lastAnswer = 0; // performance.now() of the last answer
    let failures = 0;
    let answers = 0;
    let run = { digit: '', count: 0, said: false }; // the same digit in a row
    live.dataset.answers = '0';
    setLive('starting', '·', 'Looking…');

    const age = () => (lastAnswer ? `${((performance.now() - lastAnswer) / 1000).toFixed(1)} s` : '');
    function showStatus() {
      const s = live.dataset.state;
      if (s === 'starting') liveStatus.textContent = 'Waiting for the first answer…';
      else if (s === 'live') liveStatus.textContent = `Live · answer ${age()} old`;
      else if (s === 'reconnecting') liveStatus.textContent = `Reconnecting… ${lastAnswer ? `last answer ${age()} old` : 'no answer yet'}`;
      else liveStatus.textContent = `Offline: the server cannot be reached; trying again. ${lastAnswer ? `Last answer ${age()} old.` : ''}`;
    }

    async function send() {
      cropSquare(video, frame, FRAME_SIDE);
      const blob = await new Promise((resolve) => frame.toBlob(resolve, 'image/jpeg', 0.85));
      if (stopped || !blob) return;
      inFlight = new AbortController();
      // local.js: on "run on: this browser" the frame is read here, not sent.
      const res = await (runsInBrowser() ? predictLocal : postImage)(blob, 'camera-frame.jpg', { model: model(), details: false, timeoutMs: FRAME_TIMEOUT_MS, signal: inFlight.signal });
      inFlight = null;
      if (stopped || (res.error && res.error.code === 'aborted')) return;
      const now = performance.now();
      if (res.ok || res.status === 422) {
        failures = 0;
        lastAnswer = now;
        live.dataset.answers = String(++answers);
        if (res.ok) setLive('live', String(res.prediction.digit), `${percent(res.prediction.probability)} sure`);
        else setLive('live', '–', 'No digit in the square');
        // Several answers a second would drown a screen reader: it hears a
        // digit once it has held for STEADY answers.
        const d = res.ok ? String(res.prediction.digit) : '';
        run = run.digit === d ? { ...run, count: run.count + 1 } : { digit: d, count: 1, said: false };
        if (d && !run.said && run.count >= STEADY) {
          run.said = true;
          announce(`Camera: ${d}, ${percent(res.prediction.probability)} sure.`);
        }
        nextAt = now + MIN_GAP_MS;
      } else {
        failures++;
        setLive(failures >= OFFLINE_AFTER || res.error.code === 'offline' ? 'offline' : 'reconnecting');
        nextAt = now + Math.min(2000, 250 * 2 ** failures);
      }
      showStatus();
    }

    let busy = false; // a frame is being taken or sent
    const tick = setInterval(() => {
      showStatus();
      if (!inFlight && !busy && video.videoWidth && !document.hidden && performance.now() >= nextAt) {
        busy = true;
        send().finally(() => {
          busy = false;
        });
      }
    }, 50);
    showStatus();
    return {
      stop() {
        stopped = true;
        clearInterval(tick);
        if (inFlight) inFlight.abort();
      },
    };
  }

  function close() {
    if (loop) loop.stop();
    loop = null;
    if (stream) for (const t of stream.getTracks()) t.stop();
    stream = null;
    video.srcObject = null;
    box.hidden = true;
    openButton.hidden = false;
  }

  openButton.addEventListener('click', async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment', width: { ideal: 1280 } }, audio: false });
    } catch (err) {
      const why = err && err.name === 'NotAllowedError' ? 'permission was refused' : err && err.name === 'NotFoundError' ? 'no camera was found' : (err && err.message) || 'it failed';
      showNotice(`The camera could not be used: ${why}.`);
      return;
    }
    video.srcObject = stream;
    await video.play().catch(() => {});
    box.hidden = false;
    openButton.hidden = true;
    shootButton.focus();
    loop = startLoop();
  });

  // A kept photo is the square the overlay marks, at up to 640 px.
  shootButton.addEventListener('click', () => {
    if (!video.videoWidth) return;
    const shot = document.createElement('canvas');
    cropSquare(video, shot, Math.min(640, Math.round(Math.min(video.videoWidth, video.videoHeight) * SQUARE)));
    shot.toBlob((blob) => blob && onPhoto(blob, `camera-${new Date().toTimeString().slice(0, 8)}.jpg`), 'image/jpeg', 0.9);
  });
  $('#camera-close').addEventListener('click', () => {
    close();
    openButton.focus();
  });
  openButton.hidden = !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}
