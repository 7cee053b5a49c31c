// Where the time per batch goes on each side of the boundary, for a few k: runs the cost
// benchmark's single run (tee-run.ts runOnce, in this process, one after the other) and splits each
// batch's wall time into the normal world's own compute, the TA's command handlers, and the rest of
// the wait on the TEE (transport, and the other process being scheduled).
//
//   node dist/src/bench/tee-profile.js --cfg F --weights W --data DIR --k 0,8,9 [--reps 3] [--batches 20] [--warmup 3] [--transport shm|pipe]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadData } from '../data/load.js';
import { splitST } from '../data/split.js';
import { parseCfg } from '../nn/cfg.js';
import { readFile } from 'node:fs/promises';
import { runOnce, writeSlice, type RunResult } from './tee-run.js';

export interface ProfileRow {
  k: number;
  runs: number;
  /** Per batch, ms, median over the runs. */
  wall_ms: number;
  ree_compute_ms: number;
  wait_ms: number;
  ta_handler_ms: number;
  transport_ms: number;
  ree_cpu_ms: number | null;
  tee_cpu_ms: number | null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function profileRow(k: number, runs: RunResult[], batches: number): ProfileRow {
  const per = (f: (r: RunResult) => number): number => median(runs.map((r) => f(r) / batches));
  const cpu = (f: (r: RunResult) => number | null): number | null => (runs.every((r) => f(r) !== null) ? per((r) => f(r)! * 1000) : null);
  return {
    k, runs: runs.length,
    wall_ms: per((r) => r.seconds * 1000),
    ree_compute_ms: per((r) => r.seconds * 1000 - (r.profile?.wait_ms ?? 0)),
    wait_ms: per((r) => r.profile?.wait_ms ?? 0),
    ta_handler_ms: per((r) => r.profile?.ta_handler_ms ?? 0),
    transport_ms: per((r) => (r.profile?.wait_ms ?? 0) - (r.profile?.ta_handler_ms ?? 0)),
    ree_cpu_ms: cpu((r) => r.ree_cpu_s), tee_cpu_ms: cpu((r) => r.tee_cpu_s),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cfg: { type: 'string' }, weights: { type: 'string' }, data: { type: 'string', default: 'embedded' }, k: { type: 'string', default: '0,8,9' },
      reps: { type: 'string', default: '3' }, batches: { type: 'string', default: '20' }, warmup: { type: 'string', default: '3' },
      transport: { type: 'string', default: 'auto' }, seed: { type: 'string', default: '1' },
    },
  });
  if (!values.cfg) throw new Error('--cfg is required');
  const cfgFile = resolve(values.cfg);
  const config = parseCfg(await readFile(cfgFile, 'utf8'), cfgFile);
  const batch = config.net.batch;
  const ks = values.k!.split(',').map(Number);
  const reps = Number(values.reps);
  const batches = Number(values.batches);
  const warmup = Number(values.warmup);
  const seed = Number(values.seed);
  const transport = values.transport as 'shm' | 'pipe' | 'auto';
  const scratch = await mkdtemp(join(tmpdir(), 'layerlock-profile-'));
  try {
    const src = await loadData(values.data!, { channels: config.net.channels as 1 | 3 });
    const { T } = splitST(src.train.count, seed, 0.5);
    const slice = join(scratch, 'slice.bin');
    await writeSlice(slice, src.train, T.subarray(0, (warmup + batches) * batch));
    const results = new Map<number, RunResult[]>(ks.map((k) => [k, []]));
    for (let rep = 0; rep < reps; rep++) {
      for (const k of ks) {
        const r = await runOnce({
          cfgFile, weights: values.weights ? resolve(values.weights) : null, seed, batch, subdivisions: config.net.subdivisions, k,
          secureMem: 16 * 1024 * 1024, storageDir: join(scratch, 'tee'), slice, batches, warmup, transport,
        });
        results.get(k)!.push(r);
      }
    }
    process.stdout.write(JSON.stringify({ cfg: values.cfg, batches, warmup, reps, transport, rows: ks.map((k) => profileRow(k, results.get(k)!, batches)) }, null, 2) + '\n');
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    process.stderr.write(`tee-profile: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
