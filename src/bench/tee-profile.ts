// Where the time per batch goes on each side of the boundary, for a few k: runs the cost
// benchmark's single run (tee-run.ts runOnce, in this process, one after the other) and splits each
// batch's wall time into the normal world's own compute, the TA's command handlers, and the rest of
// the wait on the TEE (transport, and the other process being scheduled).
//
//   node dist/src/bench/tee-profile.js --cfg F --weights W --data DIR --k 0,8,9 [--reps 3] [--batches 20] [--warmup 3] [--transport shm,pipe]
//
// Several transports are interleaved run by run (same load for both), k = 0 once per repetition.
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
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
  transport: string;
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

export function profileRow(k: number, transport: string, runs: RunResult[], batches: number): ProfileRow {
  const per = (f: (r: RunResult) => number): number => median(runs.map((r) => f(r) / batches));
  const cpu = (f: (r: RunResult) => number | null): number | null => (runs.every((r) => f(r) !== null) ? per((r) => f(r)! * 1000) : null);
  return {
    k, transport, runs: runs.length,
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
  const transports = values.transport!.split(',') as ('shm' | 'pipe' | 'auto')[];
  const scratch = await mkdtemp(join(tmpdir(), 'layerlock-profile-'));
  try {
    const src = await loadData(values.data!, { channels: config.net.channels as 1 | 3 });
    const { T } = splitST(src.train.count, seed, 0.5);
    const slice = join(scratch, 'slice.bin');
    await writeSlice(slice, src.train, T.subarray(0, (warmup + batches) * batch));
    type Config = { k: number; transport: 'shm' | 'pipe' | 'auto' | 'none' };
    const configs = ks.flatMap((k): Config[] => (k === 0 ? [{ k, transport: 'none' }] : transports.map((transport) => ({ k, transport }))));
    const results = new Map<string, RunResult[]>(configs.map((c) => [`${c.k}/${c.transport}`, []]));
    for (let rep = 0; rep < reps; rep++) {
      for (const c of configs) {
        const r = await runOnce({
          cfgFile, weights: values.weights ? resolve(values.weights) : null, seed, batch, subdivisions: config.net.subdivisions, k: c.k,
          secureMem: 16 * 1024 * 1024, storageDir: join(scratch, 'tee'), slice, batches, warmup, ...(c.transport !== 'none' ? { transport: c.transport } : {}),
        });
        results.get(`${c.k}/${c.transport}`)!.push(r);
      }
    }
    const rows = configs.map((c) => profileRow(c.k, c.transport, results.get(`${c.k}/${c.transport}`)!, batches));
    process.stdout.write(JSON.stringify({ cfg: values.cfg, batches, warmup, reps, loadavg: loadavg(), rows }, null, 2) + '\n');
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
