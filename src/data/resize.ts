// Making a data set fit a network's input: bilinear resizing and grey↔RGB conversion, done once on the
// byte images (not per batch), and only when the user asks for it with --resize.

import { DataError, makeDataset, shapeText, type Dataset, type ImageShape } from './types.js';

interface Taps {
  lo: Int32Array;
  hi: Int32Array;
  w: Float64Array;
}

/** Source taps for bilinear sampling with half-pixel centres (the OpenCV / PyTorch align_corners=false convention). */
function taps(src: number, dst: number): Taps {
  const lo = new Int32Array(dst);
  const hi = new Int32Array(dst);
  const w = new Float64Array(dst);
  const scale = src / dst;
  for (let i = 0; i < dst; i++) {
    const s = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), src - 1);
    const l = Math.floor(s);
    lo[i] = l;
    hi[i] = Math.min(l + 1, src - 1);
    w[i] = s - l;
  }
  return { lo, hi, w };
}

function resizePlane(
  src: Uint8Array, srcOff: number, srcW: number,
  dst: Uint8Array, dstOff: number, dstW: number, dstH: number,
  ty: Taps, tx: Taps,
): void {
  for (let y = 0; y < dstH; y++) {
    const r0 = srcOff + ty.lo[y]! * srcW;
    const r1 = srcOff + ty.hi[y]! * srcW;
    const wy = ty.w[y]!;
    const o = dstOff + y * dstW;
    for (let x = 0; x < dstW; x++) {
      const x0 = tx.lo[x]!;
      const x1 = tx.hi[x]!;
      const wx = tx.w[x]!;
      const top = src[r0 + x0]! + (src[r0 + x1]! - src[r0 + x0]!) * wx;
      const bot = src[r1 + x0]! + (src[r1 + x1]! - src[r1 + x0]!) * wx;
      // Uint8Array assignment would truncate; round so a same-value area stays the same value.
      dst[o + x] = Math.round(top + (bot - top) * wy);
    }
  }
}

/**
 * Returns a data set with every image resized (bilinear) to height×width and, if channels is given,
 * converted grey→RGB (replicated) or RGB→grey (ITU-R BT.601 luma). Returns ds itself when nothing changes.
 * Bilinear is meant for modest scale changes (32↔28); it does not low-pass before large reductions.
 */
export function resizeDataset(ds: Dataset, height: number, width: number, channels: number = ds.channels): Dataset {
  if (!(Number.isInteger(height) && height > 0 && Number.isInteger(width) && width > 0)) {
    throw new RangeError(`resizeDataset: bad size ${height}×${width}`);
  }
  const from = ds.channels;
  if (channels !== from && !((from === 1 && channels === 3) || (from === 3 && channels === 1))) {
    throw new DataError(`cannot convert ${from}-channel images to ${channels} channels (only grey↔RGB)`);
  }
  if (height === ds.height && width === ds.width && channels === from) return ds;

  const inPlane = ds.height * ds.width;
  const outPlane = height * width;
  const sameSize = height === ds.height && width === ds.width;
  const ty = taps(ds.height, height);
  const tx = taps(ds.width, width);
  const out = new Uint8Array(ds.count * channels * outPlane);
  // Planes actually resized: the grey plane when converting RGB→grey (3× less work), otherwise the source planes.
  const work = from === 3 && channels === 1 ? 1 : from;
  const grey = from === 3 && channels === 1 ? new Uint8Array(inPlane) : null;

  for (let n = 0; n < ds.count; n++) {
    let src = ds.images;
    let srcOff = n * from * inPlane;
    if (grey) {
      for (let i = 0; i < inPlane; i++) {
        const r = src[srcOff + i]!;
        const g = src[srcOff + inPlane + i]!;
        const b = src[srcOff + 2 * inPlane + i]!;
        grey[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
      }
      src = grey;
      srcOff = 0;
    }
    const dstOff = n * channels * outPlane;
    for (let c = 0; c < work; c++) {
      if (sameSize) out.set(src.subarray(srcOff + c * inPlane, srcOff + (c + 1) * inPlane), dstOff + c * outPlane);
      else resizePlane(src, srcOff + c * inPlane, ds.width, out, dstOff + c * outPlane, width, height, ty, tx);
    }
    if (from === 1 && channels === 3) {
      out.copyWithin(dstOff + outPlane, dstOff, dstOff + outPlane);
      out.copyWithin(dstOff + 2 * outPlane, dstOff, dstOff + outPlane);
    }
  }
  return makeDataset(out, ds.labels, { height, width, channels }, ds.classNames);
}

/**
 * The data set unchanged when it already has the network's input shape; resized when `resize`;
 * otherwise a DataError that tells the user how to proceed.
 */
export function checkShape(ds: Dataset, shape: ImageShape, resize: boolean): Dataset {
  if (ds.height === shape.height && ds.width === shape.width && ds.channels === shape.channels) return ds;
  if (!resize) {
    throw new DataError(
      `images are ${shapeText(ds)} but the network expects ${shapeText(shape)} (pass --resize to resize them)`,
    );
  }
  return resizeDataset(ds, shape.height, shape.width, shape.channels);
}
