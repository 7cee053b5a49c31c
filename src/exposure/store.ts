// The run folder: everything a run needs to continue after being killed at any moment.
//
//   <dir>/options.json      the run identity (jobs.ts); a run with other options refuses to mix
//   <dir>/jobs/<id>.json    one finished job each, written atomically (temp file + rename)
//   <dir>/base/s<seed>.weights   the base model M of a seed (Darknet .weights)
//   <dir>/base/s<seed>.ckpt      its training checkpoint (weights + momentum + counters) until done
//   <dir>/.lock             pid of the run using the folder
//
// A file is either absent or complete: a kill -9 loses at most the jobs in flight and the base
// epoch in progress.
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { atomicWrite, isAtomicTemp, processAlive } from '../util/fsutil.js';
import type { Network } from '../nn/network.js';
import type { Job, RunIdentity } from './jobs.js';

export const OPTIONS_FILE = 'options.json';
const LOCK_FILE = '.lock';

export function jobFile(dir: string, id: string): string {
  return join(dir, 'jobs', `${id}.json`);
}

export function baseWeightsFile(dir: string, seed: number): string {
  return join(dir, 'base', `s${seed}.weights`);
}

export function baseCheckpointFile(dir: string, seed: number): string {
  return join(dir, 'base', `s${seed}.ckpt`);
}

/** Writes data to path atomically (creating its folder): a synced temp file, then rename. */
export async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await atomicWrite(path, data);
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

async function readJson<T>(path: string): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return JSON.parse(text) as T;
}

/** Temp files of writes that a kill interrupted; only called while holding the lock. */
async function removeStaleTemps(dir: string): Promise<void> {
  for (const sub of ['', 'jobs', 'base']) {
    let names: string[];
    try {
      names = await readdir(join(dir, sub));
    } catch {
      continue;
    }
    for (const n of names) if (isAtomicTemp(n)) await unlink(join(dir, sub, n)).catch(() => {});
  }
}

/**
 * Takes the folder for this process. A lock left by a killed run (its pid no longer alive) is
 * taken over; a live one is refused, since two runs would compute the same jobs twice.
 */
export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      await removeStaleTemps(dir);
      return async () => {
        await unlink(path).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new Error(`${dir} is in use by another layerlock exposure run (pid ${pid}); if it is not, delete ${path}`);
      }
      await unlink(path).catch(() => {});
    }
  }
  throw new Error(`could not lock ${dir} (${path} keeps reappearing)`);
}

/** Command-line spelling of each identity field, for the refusal message. */
const FLAG_OF: Record<keyof RunIdentity, string> = {
  cfg: '--cfg',
  cfg_sha256: '--cfg (file contents)',
  data: '--data',
  data_location: '--data',
  train_limit: '--train-limit',
  test_limit: '--test-limit',
  train_count: '--data (number of training images)',
  test_count: '--data (number of test images)',
  split: '--split',
  resize: '--resize',
  epochs: '--epochs',
  ft_epochs: '--ft-epochs',
  base: '--base',
  base_sha256: '--base (file contents)',
};

/** Fields that decide the numbers; cfg and data as typed may differ if they name the same thing. */
const COMPARED: (keyof RunIdentity)[] = [
  'cfg_sha256', 'data_location', 'train_count', 'test_count', 'train_limit', 'test_limit', 'split', 'resize',
  'epochs', 'ft_epochs', 'base_sha256',
];

export class OptionsMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionsMismatchError';
  }
}

/** The first identity field that differs, or null. */
export function identityDifference(recorded: RunIdentity, wanted: RunIdentity): string | null {
  for (const k of COMPARED) {
    if (JSON.stringify(recorded[k]) !== JSON.stringify(wanted[k])) {
      const show = (v: unknown): string => (v === null ? 'none' : String(v));
      return `${FLAG_OF[k]} differs: the folder was made with ${show(recorded[k])}, this run asks for ${show(wanted[k])}`;
    }
  }
  return null;
}

/** Records the identity in a new folder, or checks it against the one recorded. */
export async function checkOrRecordIdentity(dir: string, identity: RunIdentity): Promise<'new' | 'same'> {
  const path = join(dir, OPTIONS_FILE);
  const recorded = await readJson<{ identity: RunIdentity }>(path);
  if (recorded === null) {
    await writeJsonAtomic(path, { identity });
    return 'new';
  }
  const diff = identityDifference(recorded.identity, identity);
  if (diff) throw new OptionsMismatchError(`${dir} holds results of a run with other options, refusing to mix them: ${diff} (use another --out, or the same options)`);
  return 'same';
}

export async function readIdentity(dir: string): Promise<RunIdentity | null> {
  return (await readJson<{ identity: RunIdentity }>(join(dir, OPTIONS_FILE)))?.identity ?? null;
}

/**
 * Whether a job file holds usable numbers: S, T and test scored on some images, every loss and
 * accuracy finite. Older versions wrote `loss: null` for an empty set or a diverged model; such a
 * file is not a result, so the job is treated as unfinished and computed again.
 */
function usableScores(r: unknown): boolean {
  const scores = (r as { scores?: Record<string, { loss?: unknown; acc?: unknown; n?: unknown }> }).scores;
  if (typeof scores !== 'object' || scores === null) return false;
  return ['S', 'T', 'test'].every((k) => {
    const s = scores[k];
    return s !== undefined && Number.isFinite(s.loss) && Number.isFinite(s.acc) && typeof s.n === 'number' && s.n > 0;
  });
}

/** Result of a finished job, or null if it has not finished (or its file is unusable: it is redone). */
export async function readJobResult<T extends { id: string }>(dir: string, job: Job | string): Promise<T | null> {
  const id = typeof job === 'string' ? job : job.id;
  let r: T | null;
  try {
    r = await readJson<T>(jobFile(dir, id));
  } catch (e) {
    if (e instanceof SyntaxError) return null; // a file cut short outside our atomic writes
    throw e;
  }
  if (r !== null && r.id !== id) throw new Error(`${jobFile(dir, id)} holds job ${r.id}, not ${id}`);
  if (r !== null && !usableScores(r)) return null;
  return r;
}

// ---- base-training checkpoints ------------------------------------------------------------------

const CKPT_MAGIC = 'LLCK';

interface CheckpointHeader {
  /** Epochs completed. */
  epoch: number;
  updates: number;
  seen: number;
  tensors: { layer: number; name: string; length: number; momentum: boolean }[];
  /** Caller's record of the completed epochs (e.g. their losses). */
  history: unknown;
}

/**
 * Everything training state needs to continue bit-identically: every parameter tensor and its
 * momentum buffer, the update counter (learning-rate schedule, dropout masks) and `seen`.
 */
export function encodeCheckpoint(net: Network, epoch: number, history: unknown = null): Uint8Array {
  const header: CheckpointHeader = { epoch, updates: net.updates, seen: net.seen, tensors: [], history };
  const arrays: Float32Array[] = [];
  for (const l of net.layers) {
    for (const p of l.params()) {
      header.tensors.push({ layer: l.index, name: p.name, length: p.data.length, momentum: p.updates !== null });
      arrays.push(p.data);
      if (p.updates) arrays.push(p.updates);
    }
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const headBytes = 8 + json.length;
  const pad = (4 - (headBytes % 4)) % 4;
  const floats = arrays.reduce((a, x) => a + x.length, 0);
  const out = new Uint8Array(headBytes + pad + 4 * floats);
  out.set(Buffer.from(CKPT_MAGIC, 'ascii'), 0);
  new DataView(out.buffer).setUint32(4, json.length, true);
  out.set(json, 8);
  let off = headBytes + pad;
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
    off += a.byteLength;
  }
  return out;
}

/** Restores a checkpoint into net; returns the number of completed epochs and the history. */
export function decodeCheckpoint(net: Network, bytes: Uint8Array, what: string): { epoch: number; history: unknown } {
  const fail = (why: string): never => {
    throw new Error(`${what}: not a usable checkpoint (${why}); delete it to restart the base training`);
  };
  if (bytes.length < 8 || Buffer.from(bytes.subarray(0, 4)).toString('ascii') !== CKPT_MAGIC) fail('bad magic');
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + len)).toString('utf8')) as CheckpointHeader;
  const headBytes = 8 + len;
  let off = headBytes + ((4 - (headBytes % 4)) % 4);
  const copies: [Float32Array, number][] = [];
  let t = 0;
  for (const l of net.layers) {
    for (const p of l.params()) {
      const h = header.tensors[t++];
      if (!h || h.layer !== l.index || h.name !== p.name || h.length !== p.data.length || h.momentum !== (p.updates !== null)) {
        fail(`layer ${l.index} ${p.name} does not match the network`);
      }
      copies.push([p.data, off]);
      off += 4 * p.data.length;
      if (p.updates) {
        copies.push([p.updates, off]);
        off += 4 * p.updates.length;
      }
    }
  }
  if (t !== header.tensors.length || off !== bytes.length) fail('size does not match the network');
  for (const [dst, at] of copies) {
    // Copy through a fresh buffer: bytes may be a Buffer at any (unaligned) offset of a pool.
    dst.set(new Float32Array(Uint8Array.prototype.slice.call(bytes, at, at + 4 * dst.length).buffer));
  }
  net.updates = header.updates;
  net.seen = header.seen;
  return { epoch: header.epoch, history: header.history };
}
