// The processes of the queue tests: layerlock commands (coordinators, workers) started as a user
// starts them, their output kept for the checks (and for the after-all check that the Redis
// password never appears in any of it).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const env = { ...process.env, LAYERLOCK_THREADS: '1', CI: 'true' };

export interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  closed: Promise<number | null>;
}

/** Every process's output, to check that the Redis password never shows. */
export const outputs: (() => string)[] = [];
/** Every worker started, to stop them all at the end. */
export const workers: Proc[] = [];

export function start(args: string[]): Proc {
  const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const p = { child, out: () => out, err: () => err, closed };
  outputs.push(() => out + err);
  return p;
}

export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000, every = 20): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** `layerlock worker` on the queue at url, one job at a time, a job stalled after stallSeconds of silence. */
export function startWorker(url: string, stallSeconds: number, extra: string[] = []): Proc {
  const w = start(['worker', '--queue', url, '--jobs', '1', '--stall-timeout', String(stallSeconds), '--json', ...extra]);
  workers.push(w);
  return w;
}

export async function stopWorker(w: Proc): Promise<void> {
  if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  await w.closed;
}
