// drop.js - the ways files reach the upload queue from the desktop: dropped
// anywhere on the page, picked from the drop zone (click, Enter or Space),
// or pasted (Ctrl+V).
//
// Invariant: the whole window accepts a drop, so a near miss does not
// navigate away from the page to the dropped file.

import { $ } from './page.js';

// Wires the drop zone (#dropzone, with its hidden file input #file), the
// window and the document; every file list found goes to
// addFiles(files, fallbackName). Returns {focus()}, which focuses the zone.
export function dropAndPaste({ addFiles }) {
  const dropzone = $('#dropzone');
  const picker = $('#file');
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  let dragDepth = 0;

  window.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth++;
    document.body.classList.add('dragging');
  });
  window.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  window.addEventListener('dragleave', () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) document.body.classList.remove('dragging');
  });
  window.addEventListener('drop', (e) => {
    dragDepth = 0;
    document.body.classList.remove('dragging');
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    addFiles(e.dataTransfer.files);
  });

  dropzone.addEventListener('click', () => picker.click());
  dropzone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault(); // Space would scroll the page
      picker.click();
    }
  });
  picker.addEventListener('change', () => {
    if (picker.files.length) addFiles(picker.files);
    picker.value = ''; // choosing the same file again still fires change
  });

  document.addEventListener('paste', (e) => {
    const items = e.clipboardData ? [...e.clipboardData.items] : [];
    const files = items.filter((i) => i.kind === 'file').map((i) => i.getAsFile()).filter(Boolean);
    if (!files.length) return;
    e.preventDefault();
    addFiles(files, 'pasted image');
  });

  return { focus: () => dropzone.focus() };
}
