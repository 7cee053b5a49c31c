// How long a request/reply round trip between two processes takes when the normal world has been
// computing for a while before it (as in training: one TRAIN_STEP every ~30 ms), for the TEE's
// mailbox doorbell (futex on shared memory) and, for comparison, a pair of FIFOs (blocking pipes).
// A tight loop of round trips hides the cost that matters here: waking a process whose CPU went idle.
//
//   npx tsc -p . && node scripts/tee-wakeup.mjs [--rounds 200] [--gaps 0,5,20] [--same-cpu]
//
// --same-cpu pins both processes to CPU 0 first (taskset), so the woken side runs where the caller
// is about to sleep. Prints the median, 10th and 90th percentile round trip in microseconds.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nativeSharedMemory } from '../dist/src/kernels/native.js';
import { Mailbox } from '../dist/src/tee/shared/mailbox.js';

const native = nativeSharedMemory();
if (!native?.doorbell) {
  console.error('tee-wakeup: the native addon with doorbells is needed (npm ci)');
  process.exit(1);
}
const FRAME = 148;

if (process.argv[2] === 'child') {
  const [, , , mode, dir] = process.argv;
  if (mode === 'futex') {
    const mb = new Mailbox(native.map(3, 1 << 20), native.doorbell, 'ta');
    for (;;) {
      const f = mb.receive(0, 1000);
      if (f) mb.send(f.raw);
    }
  } else {
    const r = openSync(join(dir, 'to'), 'r');
    const w = openSync(join(dir, 'from'), 'w');
    const b = Buffer.alloc(FRAME);
    for (;;) {
      const n = readSync(r, b);
      if (n === 0) process.exit(0);
      writeSync(w, b, 0, n);
    }
  }
} else {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '200' }, gaps: { type: 'string', default: '0,5,20' }, 'same-cpu': { type: 'boolean', default: false } } });
  if (values['same-cpu'] && !process.env.LAYERLOCK_WAKEUP_PINNED) {
    execFileSync('taskset', ['-c', '0', process.execPath, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, LAYERLOCK_WAKEUP_PINNED: '1' } });
    process.exit(0);
  }
  const rounds = Number(values.rounds);
  for (const gap of values.gaps.split(',').map(Number)) {
    for (const mode of ['futex', 'fifo']) console.log(`${mode.padEnd(5)} after ${String(gap).padStart(2)} ms of work: ${await measure(mode, gap, rounds)}`);
  }
}

async function measure(mode, gapMs, rounds) {
  const dir = mkdtempSync(join(tmpdir(), 'layerlock-wakeup-'));
  const m = native.create(1 << 20);
  if (mode === 'fifo') execFileSync('mkfifo', [join(dir, 'to'), join(dir, 'from')]);
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, 'child', mode, dir], { stdio: ['ignore', 'inherit', 'inherit', m.fd] });
  closeSync(m.fd);
  let w = -1;
  let r = -1;
  if (mode === 'fifo') {
    w = openSync(join(dir, 'to'), 'w');
    r = openSync(join(dir, 'from'), 'r');
  }
  const mb = new Mailbox(m.buffer, native.doorbell, 'client');
  // The child must have built its mailbox before the first ring (as the TA does before its hello).
  await new Promise((res) => setTimeout(res, 2500));
  const frame = Buffer.alloc(FRAME);
  frame.writeUInt32LE(FRAME - 4, 0);
  const rts = [];
  for (let i = 0; i < rounds + 10; i++) {
    const end = performance.now() + gapMs;
    while (performance.now() < end); // the normal world computes
    const t0 = performance.now();
    if (mode === 'futex') {
      mb.send(frame);
      while (!mb.receive(0, 1000));
    } else {
      writeSync(w, frame);
      let got = 0;
      while (got < FRAME) got += readSync(r, frame, got, FRAME - got);
    }
    if (i >= 10) rts.push((performance.now() - t0) * 1000);
  }
  child.kill();
  if (w >= 0) closeSync(w);
  if (r >= 0) closeSync(r);
  rmSync(dir, { recursive: true, force: true });
  rts.sort((a, b) => a - b);
  const q = (p) => rts[Math.min(rts.length - 1, Math.floor(p * rts.length))].toFixed(0);
  return `round trip µs median ${q(0.5)}, p10 ${q(0.1)}, p90 ${q(0.9)} (${rounds} rounds)`;
}
