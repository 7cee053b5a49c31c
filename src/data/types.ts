// The in-memory form every reader produces. Pixels stay as bytes (a quarter of the float size) and are
// converted to float32 only per batch, so a whole CIFAR-10 train set fits in ~150 MB rather than 600 MB.

export interface Dataset {
  /** count × channels × height × width, CHW per image (planar), 0..255. */
  readonly images: Uint8Array;
  /** count labels, each < classes. */
  readonly labels: Uint8Array;
  readonly count: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Number of classes (10 for MNIST/CIFAR; the folder count for image folders). */
  readonly classes: number;
  readonly classNames: readonly string[];
}

export type DataFormat = 'idx' | 'cifar10' | 'folder';

export interface DataSource {
  readonly format: DataFormat;
  /** The directory the data came from, or 'embedded'. */
  readonly location: string;
  readonly train: Dataset;
  readonly test: Dataset;
}

/** A problem with the user's data: the message is one line that names the offending file. */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

export interface LoadOptions {
  /** Use only the first N training images (before any S/T split). */
  trainLimit?: number;
  /** Use only the first N test images. */
  testLimit?: number;
  /**
   * Image folders only: decode as grey (1) or RGB (3). Without it the first image decides.
   * IDX is always 1 channel and CIFAR-10 always 3; use checkShape/resizeDataset to convert those.
   */
  channels?: 1 | 3;
}

export interface ImageShape {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/** Validates a limit option once, so every reader can treat undefined as "no limit". */
export function checkLimit(name: string, limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new DataError(`${name} must be a non-negative integer (got ${String(limit)})`);
  }
  return limit;
}

export function makeDataset(
  images: Uint8Array,
  labels: Uint8Array,
  shape: ImageShape,
  classNames: readonly string[],
): Dataset {
  const count = labels.length;
  const size = shape.channels * shape.height * shape.width;
  if (images.length !== count * size) {
    throw new Error(`internal: ${images.length} pixel bytes for ${count} images of ${size} bytes`);
  }
  return {
    images,
    labels,
    count,
    channels: shape.channels,
    height: shape.height,
    width: shape.width,
    classes: classNames.length,
    classNames,
  };
}

export function shapeText(s: ImageShape): string {
  return `${s.height}×${s.width}×${s.channels}`;
}
