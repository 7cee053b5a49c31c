// Sequential reading of a data file that may or may not be gzip-compressed. Readers pull only the
// bytes they need, so a --train-limit of 1000 on a 47 MB MNIST file decompresses ~1 MB, not all of it.

import { open, stat, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { DataError } from './types.js';

const CHUNK = 1 << 20;

export interface ByteSource {
  readonly file: string;
  readonly gzip: boolean;
  /** Length on disk when uncompressed (so the data length is known before reading), else undefined. */
  readonly size: number | undefined;
  /** Fills target from the current position; returns the bytes written (< target.length only at end of data). */
  read(target: Uint8Array): Promise<number>;
  /** Reads everything that is left. */
  readRest(): Promise<Uint8Array>;
  /**
   * Counts the bytes left without keeping them: how a reader that stopped at a limit still checks
   * that the file is as long as its header says (a truncated file is refused whatever the limit).
   */
  countRest(): Promise<number>;
  close(): Promise<void>;
}

/** Opens a file, detecting gzip by its magic bytes (1f 8b) rather than trusting the name. */
export async function openBytes(file: string): Promise<ByteSource> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new DataError(`${file}: cannot open (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const magic = new Uint8Array(2);
  const { bytesRead } = await fh.read(magic, 0, 2, 0);
  if (bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
    await fh.close();
    return new GzipSource(file);
  }
  const { size } = await fh.stat();
  return new RawSource(file, fh, size);
}

class RawSource implements ByteSource {
  readonly gzip = false;
  private pos = 0;
  constructor(readonly file: string, private readonly fh: FileHandle, readonly size: number) {}

  async read(target: Uint8Array): Promise<number> {
    let done = 0;
    while (done < target.length) {
      const { bytesRead } = await this.fh.read(target, done, target.length - done, this.pos);
      if (bytesRead === 0) break;
      done += bytesRead;
      this.pos += bytesRead;
    }
    return done;
  }

  async readRest(): Promise<Uint8Array> {
    const out = new Uint8Array(Math.max(0, this.size - this.pos));
    const n = await this.read(out);
    return n === out.length ? out : out.subarray(0, n);
  }

  async countRest(): Promise<number> {
    const left = Math.max(0, this.size - this.pos);
    this.pos = this.size;
    return left;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

class GzipSource implements ByteSource {
  readonly gzip = true;
  readonly size = undefined;
  private readonly input;
  private readonly gunzip;
  private readonly it: AsyncIterator<Buffer>;
  private pending: Buffer | null = null;
  private ended = false;

  constructor(readonly file: string) {
    this.input = createReadStream(file, { highWaterMark: CHUNK });
    this.gunzip = createGunzip({ chunkSize: CHUNK });
    this.input.on('error', (e) => this.gunzip.destroy(e));
    this.input.pipe(this.gunzip);
    this.it = this.gunzip[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  private async next(): Promise<Buffer | null> {
    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      return p;
    }
    if (this.ended) return null;
    let r: IteratorResult<Buffer>;
    try {
      r = await this.it.next();
    } catch (e) {
      this.ended = true;
      throw new DataError(`${this.file}: corrupt or truncated gzip data (${(e as Error).message})`);
    }
    if (r.done) {
      this.ended = true;
      return null;
    }
    return r.value;
  }

  async read(target: Uint8Array): Promise<number> {
    let done = 0;
    while (done < target.length) {
      const chunk = await this.next();
      if (!chunk) break;
      const take = Math.min(chunk.length, target.length - done);
      target.set(chunk.subarray(0, take), done);
      done += take;
      if (take < chunk.length) this.pending = chunk.subarray(take);
    }
    return done;
  }

  async readRest(): Promise<Uint8Array> {
    const chunks: Buffer[] = [];
    for (let c = await this.next(); c; c = await this.next()) chunks.push(c);
    return Buffer.concat(chunks);
  }

  async countRest(): Promise<number> {
    let n = 0;
    for (let c = await this.next(); c; c = await this.next()) n += c.length;
    return n;
  }

  async close(): Promise<void> {
    this.ended = true;
    this.input.unpipe(this.gunzip);
    this.input.destroy();
    this.gunzip.destroy();
  }
}

/** Runs fn on an open source and always closes it, so early errors do not leak descriptors. */
export async function withBytes<T>(file: string, fn: (src: ByteSource) => Promise<T>): Promise<T> {
  const src = await openBytes(file);
  try {
    return await fn(src);
  } finally {
    await src.close();
  }
}

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
