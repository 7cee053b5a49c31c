// Decoding single image files with sharp, shared by the image-folder reader and `predict <image>`.
// Pixels come out as Darknet reads them: grey or RGB per the requested channel count, alpha dropped,
// planar CHW.

import sharp from 'sharp';
import { isDirectory, isFile } from './bytes.js';
import { DataError, shapeText, type ImageShape } from './types.js';

export interface DecodedImage {
  /** channels × height × width bytes, planar. */
  readonly data: Uint8Array;
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
}

function decodeError(file: string, e: unknown): DataError {
  if (e instanceof DataError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new DataError(`${file}: cannot decode image (${msg.split('\n')[0]})`);
}

/** Grey (1) or colour (3), ignoring alpha; what "the first image decides" means for folders. */
export async function imageChannels(file: string): Promise<1 | 3> {
  try {
    const m = await sharp(file).metadata();
    const colour = (m.channels ?? 3) - (m.hasAlpha ? 1 : 0);
    return colour >= 3 ? 3 : 1;
  } catch (e) {
    throw decodeError(file, e);
  }
}

/**
 * Decodes file to `channels` planes of 8-bit pixels. With `size`, the image is first stretched to
 * exactly that size (fit 'fill': no cropping or padding, aspect ratio not kept, as Darknet's resize).
 */
export async function decodeImage(
  file: string,
  channels: 1 | 3,
  size?: { height: number; width: number },
): Promise<DecodedImage> {
  let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    let p = sharp(file).removeAlpha();
    p = channels === 1 ? p.toColourspace('b-w') : p.toColourspace('srgb');
    if (size) p = p.resize(size.width, size.height, { fit: 'fill' });
    raw = await p.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw decodeError(file, e);
  }
  const { width, height } = raw.info;
  if (raw.info.channels !== channels) {
    throw new DataError(`${file}: decoded to ${raw.info.channels} channels, expected ${channels}`);
  }
  const src = raw.data;
  if (channels === 1) return { data: new Uint8Array(src.buffer, src.byteOffset, src.length), height, width, channels };
  // sharp returns interleaved RGBRGB...; the network wants the R plane, then G, then B.
  const plane = width * height;
  const data = new Uint8Array(3 * plane);
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    data[i] = src[j]!;
    data[plane + i] = src[j + 1]!;
    data[2 * plane + i] = src[j + 2]!;
  }
  return { data, height, width, channels };
}

async function imageSize(file: string): Promise<{ height: number; width: number }> {
  try {
    const m = await sharp(file).metadata();
    if (m.width === undefined || m.height === undefined) throw new Error('no image size in header');
    return { height: m.height, width: m.width };
  } catch (e) {
    throw decodeError(file, e);
  }
}

/**
 * Reads one image for the network's input: grey or RGB per shape.channels, scaled to [0,1], CHW.
 * A size mismatch is an error unless `resize`, because silently stretching an image changes what
 * the network sees.
 */
export async function readImageFile(path: string, shape: ImageShape, resize: boolean): Promise<Float32Array> {
  const channels = shape.channels;
  if (channels !== 1 && channels !== 3) {
    throw new DataError(`${path}: cannot read an image for a network with ${channels} input channels (only 1 or 3)`);
  }
  if (!(await isFile(path))) {
    throw new DataError((await isDirectory(path)) ? `${path} is a folder, not an image file` : `${path}: no such file`);
  }
  const { height, width } = await imageSize(path);
  const same = height === shape.height && width === shape.width;
  if (!same && !resize) {
    throw new DataError(
      `${path}: image is ${shapeText({ height, width, channels })} but the network expects ${shapeText(shape)} ` +
        `(pass --resize to resize it)`,
    );
  }
  const img = await decodeImage(path, channels, same ? undefined : { height: shape.height, width: shape.width });
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i]! / 255;
  return out;
}
