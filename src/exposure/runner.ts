// Runs the jobs of an exposure run in parallel worker processes, skipping those already finished
// in the run folder. Each worker writes its job's result atomically as soon as the job ends, so
// a run killed at any moment loses only the jobs in flight; running it again continues.
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { NetworkConfig } from '../nn/config.js';
import { dependencyOf, jobCost, jobList, type CostInputs, type Job } from './jobs.js';
import type { RunIdentity } from './identity.js';
import { loadValidJobs } from './valid-jobs.js';
import type { FromWorker, JobResult, ToWorker, WorkerContext } from './worker.js';

export interface RunningJob {
  job: Job;
  /** Fine-tuning / training progress: 0-based epoch and 1-based batch within it. */
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
}

export interface RunState {
  /** Jobs of the whole run and how many of them are finished (including earlier runs'). */
  total: number;
  done: number;
  /** Jobs finished by earlier runs of the same folder (under this identity). */
  skipped: number;
  /** Finished jobs of the folder that are recomputed: made under another identity or from another base model. */
  stale: string[];
  /** Work of this invocation, in relative cost units (jobs.ts jobCost), done and in all. */
  cost: number;
  costDone: number;
  running: RunningJob[];
  elapsedSeconds: number;
}

export type RunnerEvent =
  | { type: 'start'; state: RunState; workers: number; threads: string; queue?: string }
  | { type: 'progress'; state: RunState }
  | { type: 'job-done'; state: RunState; job: Job; result: JobResult }
  | { type: 'job-failed'; state: RunState; job: Job; message: string };

export interface RunOptions {
  dir: string;
  identity: RunIdentity;
  config: NetworkConfig;
  cfgText: string;
  /** 'embedded' or the data directory; the --base file, if any. */
  dataLocation: string;
  basePath: string | null;
  /** Memory for activation caches of all workers together (bytes; 0: no cache); split evenly between them. */
  cacheBytes: number;
  seeds: readonly number[];
  /** Worker processes (default: the number of cores). */
  jobs?: number;
  cost: Omit<CostInputs, 'config'>;
  onEvent?: (e: RunnerEvent) => void;
  /** Run only the jobs this accepts (a queue coordinator trains the bases here, the rest elsewhere). */
  only?: (job: Job) => boolean;
}

export interface RunSummary {
  ran: number;
  skipped: number;
  /** Finished jobs that were not reusable and were (to be) recomputed. */
  stale: string[];
  wallSeconds: number;
}

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

interface WorkerSlot {
  child: ChildProcess;
  running: RunningJob | null;
}

export async function runJobs(o: RunOptions): Promise<RunSummary> {
  const t0 = performance.now();
  const all = jobList(o.config, o.seeds).filter((j) => o.only?.(j) ?? true);
  const valid = await loadValidJobs(o.dir, o.config, o.seeds, o.identity);
  const done = new Set<string>([...valid.results.base.values(), ...valid.results.layers.values()].map((r) => r.id));
  const stale = valid.stale;
  const pending = all.filter((j) => !done.has(j.id));
  const skipped = done.size;
  const costOf = new Map(pending.map((j) => [j.id, jobCost(j, { ...o.cost, config: o.config })]));
  const totalCost = [...costOf.values()].reduce((a, b) => a + b, 0);
  let costFinished = 0;
  const emit = (e: RunnerEvent): void => o.onEvent?.(e);

  const slots: WorkerSlot[] = [];
  const state = (): RunState => {
    const running = slots.map((s) => s.running).filter((r): r is RunningJob => r !== null);
    // A running job counts by its training progress, a little under its full cost: the evaluation
    // after the last epoch is still to come.
    const partial = running.reduce((a, r) => a + (costOf.get(r.job.id) ?? 0) * Math.min(1, (r.epoch + r.batch / Math.max(1, r.batches)) / Math.max(1, r.epochs)), 0);
    return {
      total: all.length, done: done.size, skipped, stale, cost: totalCost, costDone: costFinished + 0.98 * partial, running,
      elapsedSeconds: (performance.now() - t0) / 1000,
    };
  };
  if (pending.length === 0) return { ran: 0, skipped, stale, wallSeconds: 0 };

  const cores = availableParallelism();
  const workers = Math.max(1, Math.min(o.jobs ?? cores, pending.length));
  const userThreads = process.env['LAYERLOCK_THREADS'];
  const perWorker = Math.max(1, Math.floor(cores / workers));
  const ctx: WorkerContext = { dir: o.dir, identity: o.identity, cfgText: o.cfgText, dataLocation: o.dataLocation, basePath: o.basePath, cacheBytes: Math.floor(o.cacheBytes / workers) };
  emit({ type: 'start', state: state(), workers, threads: userThreads ? `${userThreads} (LAYERLOCK_THREADS)` : `${perWorker}, all ${cores} for a job that runs alone` });

  return new Promise<RunSummary>((resolve, reject) => {
    let failure: Error | null = null;
    let ran = 0;
    let finished = false;

    const runnable = (): Job[] => pending.filter((j) => {
      const dep = dependencyOf(j);
      return dep === null || done.has(dep);
    });

    const finish = (): void => {
      if (finished) return;
      finished = true;
      for (const s of slots) {
        if (s.child.connected) s.child.disconnect();
        if (s.child.exitCode === null) s.child.kill();
      }
      if (failure) reject(failure);
      else resolve({ ran, skipped, stale, wallSeconds: (performance.now() - t0) / 1000 });
    };

    const dispatch = (slot: WorkerSlot): void => {
      if (failure) return checkEnd();
      const ready = runnable();
      const job = ready[0];
      if (!job) return checkEnd();
      pending.splice(pending.indexOf(job), 1);
      // A job that runs alone (the base training of a single seed) gets all cores; otherwise
      // the cores are shared evenly between the jobs that can run at once.
      const busy = slots.filter((s) => s.running !== null).length;
      const concurrent = Math.max(1, Math.min(workers, busy + ready.length));
      const threads = userThreads ? null : Math.max(1, Math.floor(cores / concurrent));
      slot.running = { job, epoch: 0, epochs: 1, batch: 0, batches: 1 };
      const msg: ToWorker = { type: 'job', job, ctx, threads };
      slot.child.send(msg);
    };

    const checkEnd = (): void => {
      const busy = slots.some((s) => s.running !== null);
      if (busy) return;
      if (failure || runnable().length === 0) {
        if (!failure && pending.length > 0) failure = new Error(`internal: ${pending.length} jobs cannot start`);
        finish();
      } else {
        for (const s of slots) if (s.running === null) dispatch(s);
      }
    };

    const fail = (job: Job, message: string): void => {
      if (!failure) failure = new Error(`job ${job.id} failed: ${message}`);
      emit({ type: 'job-failed', state: state(), job, message });
    };

    for (let i = 0; i < workers; i++) {
      const env: NodeJS.ProcessEnv = { ...process.env, LAYERLOCK_EXPOSURE_WORKER: '1' };
      if (!userThreads) env['LAYERLOCK_THREADS'] = String(perWorker);
      const child = fork(WORKER, [], { env, execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const slot: WorkerSlot = { child, running: null };
      slots.push(slot);
      child.on('message', (m: FromWorker) => {
        const r = slot.running;
        if (!r || m.id !== r.job.id || m.type === 'checkpoint') return;
        if (m.type === 'progress') {
          r.epoch = m.epoch;
          r.epochs = m.epochs;
          r.batch = m.batch;
          r.batches = m.batches;
          emit({ type: 'progress', state: state() });
          return;
        }
        slot.running = null;
        if (m.type === 'done') {
          done.add(r.job.id);
          ran++;
          costFinished += costOf.get(r.job.id) ?? 0;
          emit({ type: 'job-done', state: state(), job: r.job, result: m.result });
        } else {
          fail(r.job, m.message);
        }
        // Other idle workers may have been waiting for this job (a base): wake them too.
        for (const s of slots) if (s.running === null && !finished) dispatch(s);
      });
      child.on('exit', (code, signal) => {
        if (finished) return;
        const r = slot.running;
        slot.running = null;
        if (r) fail(r.job, `its worker process died (${signal ?? `exit code ${code}`})`);
        else if (!failure) failure = new Error(`a worker process exited unexpectedly (${signal ?? `exit code ${code}`})`);
        slots.splice(slots.indexOf(slot), 1);
        checkEnd();
        if (slots.length === 0) finish();
      });
      child.on('error', (err) => {
        if (!failure) failure = err;
      });
    }
    for (const s of slots) dispatch(s);
  });
}
