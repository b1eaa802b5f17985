// camera.js - take a photo with the device's camera and hand it on as a
// JPEG, like a phone picture.
//
// Invariant: the camera runs only while its box is open; closing it stops
// every track. Without getUserMedia the "open" button stays hidden.

import { $, showNotice } from './page.js';

// Wires the camera box (#camera and its buttons); each photo goes to
// onPhoto(blob, name).
export function camera({ onPhoto }) {
  const box = $('#camera');
  const video = $('#camera-video');
  const openButton = $('#camera-open');
  const shootButton = $('#camera-shoot');
  let stream = null;

  function close() {
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
  });

  // A photo is the centre square of the frame (what the overlay marks).
  shootButton.addEventListener('click', () => {
    if (!video.videoWidth) return;
    const side = Math.min(video.videoWidth, video.videoHeight);
    const shot = document.createElement('canvas');
    shot.width = shot.height = Math.min(side, 640);
    shot.getContext('2d').drawImage(video, (video.videoWidth - side) / 2, (video.videoHeight - side) / 2, side, side, 0, 0, shot.width, shot.height);
    shot.toBlob((blob) => blob && onPhoto(blob, `camera-${new Date().toTimeString().slice(0, 8)}.jpg`), 'image/jpeg', 0.9);
  });
  $('#camera-close').addEventListener('click', () => {
    close();
    openButton.focus();
  });
  openButton.hidden = !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}
