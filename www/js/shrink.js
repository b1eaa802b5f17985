// shrink.js - a picture made ready to send: a phone photo is decoded by the
// browser, turned upright (its EXIF orientation) and scaled so its longer
// side is at most MAX_SIDE before it is uploaded. The server needs far
// fewer pixels than a camera takes (it normalises to 28x28), refuses
// pictures over 4096 px a side, and ignores EXIF orientation.
//
// Invariants:
// - What the browser cannot decode (TIFF, HEIF, not an image at all) is
//   sent as it is, so the server still gives its own answer.
// - A picture that is already small and upright is sent byte for byte.

export const MAX_SIDE = 1600;

// The EXIF orientation (1-8) of a JPEG, 1 when it has none: the first
// APP1 "Exif" segment's TIFF IFD0 entry 0x0112.
export async function jpegOrientation(blob) {
  const b = new DataView(await blob.slice(0, 128 * 1024).arrayBuffer());
  if (b.byteLength < 4 || b.getUint16(0) !== 0xffd8) return 1;
  let off = 2;
  while (off + 4 <= b.byteLength) {
    const marker = b.getUint16(off);
    const len = b.getUint16(off + 2);
    if ((marker & 0xff00) !== 0xff00 || marker === 0xffda) break; // start of scan: no EXIF
    if (marker === 0xffe1 && off + 10 <= b.byteLength && b.getUint32(off + 4) === 0x45786966) {
      const tiff = off + 10;
      if (tiff + 8 > b.byteLength) break;
      const little = b.getUint16(tiff) === 0x4949;
      const u16 = (o) => b.getUint16(o, little);
      const ifd = tiff + b.getUint32(tiff + 4, little);
      if (ifd + 2 > b.byteLength) break;
      for (let i = 0, n = u16(ifd); i < n; i++) {
        const e = ifd + 2 + i * 12;
        if (e + 12 > b.byteLength) break;
        if (u16(e) === 0x0112) {
          const v = u16(e + 8);
          return v >= 1 && v <= 8 ? v : 1;
        }
      }
      break;
    }
    off += 2 + len;
  }
  return 1;
}

// Resolves to {blob, name, note}: the blob to send (the file itself, or a
// smaller upright JPEG or PNG) and, when it changed, a note for the card
// such as "sent 1600×1200 of 6000×4500". Never rejects.
export async function prepareUpload(file, name) {
  const same = { blob: file, name, note: '' };
  if (typeof createImageBitmap !== 'function' || !/^image\/(jpeg|png|webp|gif|bmp)$/.test(file.type || '')) return same;
  const orientation = file.type === 'image/jpeg' ? await jpegOrientation(file).catch(() => 1) : 1;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  } catch {
    // An older browser that knows no 'from-image' (it orients by default),
    // or a file it cannot decode: then the server will say why.
    bitmap = await createImageBitmap(file).catch(() => null);
    if (!bitmap) return same;
  }
  const { width, height } = bitmap;
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  if (scale === 1 && orientation === 1) {
    bitmap.close();
    return same;
  }
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff'; // transparency composited over paper, as the server does
  ctx.fillRect(0, 0, w, h);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  const png = file.type === 'image/png' || file.type === 'image/gif';
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, png ? 'image/png' : 'image/jpeg', 0.92));
  if (!blob) return same;
  const what = scale < 1 ? `sent ${w}×${h} of ${width}×${height}` : 'sent upright';
  return { blob, name: name.replace(/\.\w+$/, '') + (png ? '.png' : '.jpg'), note: what };
}
