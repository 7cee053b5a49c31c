// Expected wall time and speed-up of the distributed exposure protocol for n workers, from measured
// inputs (docs/distributed.md): per-layer job times, the queue's overhead per job, the base model's
// training time. Jobs are handed out longest first (the queue's order: first layers first), each
// worker takes the next job when free (list scheduling); bases are trained by the coordinators.
//   node experiments/distributed/model.mjs <results dir of measure.sh> <overhead s/job>
import { readFileSync } from 'node:fs';

const [dir, overheadArg] = process.argv.slice(2);
const overhead = Number(overheadArg);
const local = JSON.parse(readFileSync(`${dir}/local-pool-1.json`, 'utf8'));
// Relative job lengths per layer (Mr + Mp of a layer took layer.seconds together).
const rel = local.layers.map((l) => l.seconds / 2);
const relMean = rel.reduce((a, b) => a + b, 0) / rel.length;

// The paper's protocol on full MNIST, E = E_ft = 20 (README, experiments/exposure-mnist-full):
// its 16 jobs took 14 min on 2 single-thread workers (105 s per job on average), the base 6 min.
const JOB_MEAN_S = (14 * 60 * 2) / 16;
const BASE_S = 6 * 60;

function makespan(jobs, n) {
  const free = new Array(Math.min(n, jobs.length)).fill(0);
  for (const t of jobs) {
    let i = 0;
    for (let k = 1; k < free.length; k++) if (free[k] < free[i]) i = k;
    free[i] += t;
  }
  return Math.max(...free);
}

function scenario(name, seeds, coordinators) {
  const jobs = [];
  for (let s = 0; s < seeds; s++) for (const r of rel) jobs.push((r / relMean) * JOB_MEAN_S + overhead, (r / relMean) * JOB_MEAN_S + overhead);
  jobs.sort((a, b) => b - a);
  // Bases: trained by the coordinators, each on 2 cores, all seeds' bases before the layer jobs.
  const bases = Math.ceil(seeds / (2 * coordinators)) * BASE_S;
  const t1 = bases + makespan(jobs, 1);
  console.log(`\n${name}: ${jobs.length} layer jobs, bases ${(bases / 60).toFixed(0)} min on ${coordinators} coordinator(s)`);
  console.log('workers | wall time | speed-up vs 1 worker');
  for (const n of [1, 2, 10, 20, 50, 100]) {
    const t = bases + makespan(jobs, n);
    console.log(`${String(n).padStart(7)} | ${(t / 60).toFixed(1).padStart(6)} min | ${(t1 / t).toFixed(1)}×`);
  }
}

console.log(`inputs: mean job ${JOB_MEAN_S.toFixed(0)} s (relative per-layer lengths from ${dir}), overhead ${overhead} s/job, base ${BASE_S / 60} min`);
scenario('MNIST, 1 seed', 1, 1);
scenario('3 data sets x 5 seeds (as MNIST), one coordinator', 15, 1);
scenario('3 data sets x 5 seeds, one coordinator per seed', 15, 15);
