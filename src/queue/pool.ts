// The compute processes of a queue worker: the same worker program the local runner forks
// (exposure/worker.ts), so a job computes exactly as in a local run. Training runs there and not
// in the queue worker itself, whose event loop must stay free to renew the jobs' locks (BullMQ
// would otherwise take a long epoch for a dead worker) and to talk to Redis.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromWorker, JobResult, ToWorker } from '../exposure/worker.js';

const WORKER = fileURLToPath(new URL('../exposure/worker.js', import.meta.url));

export class ComputePool {
  private readonly idle: ChildProcess[] = [];
  private readonly all = new Set<ChildProcess>();

  /** threads: native kernel threads per process (LAYERLOCK_THREADS), null to inherit. */
  constructor(private readonly threads: number | null) {}

  private spawn(): ChildProcess {
    const env: NodeJS.ProcessEnv = { ...process.env, LAYERLOCK_EXPOSURE_WORKER: '1' };
    if (this.threads !== null) env['LAYERLOCK_THREADS'] = String(this.threads);
    const child = fork(WORKER, [], { env, execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.all.add(child);
    child.on('exit', () => {
      this.all.delete(child);
      const i = this.idle.indexOf(child);
      if (i >= 0) this.idle.splice(i, 1);
    });
    return child;
  }

  /** Runs one job in an idle process (a new one if none is idle); onMessage sees progress and checkpoints. */
  run(msg: ToWorker, onMessage: (m: FromWorker) => void): Promise<JobResult> {
    const child = this.idle.pop() ?? this.spawn();
    return new Promise<JobResult>((resolve, reject) => {
      const done = (): void => {
        child.off('message', onMsg);
        child.off('exit', onExit);
      };
      const onMsg = (m: FromWorker): void => {
        if (m.id !== msg.job.id) return;
        if (m.type === 'done') {
          done();
          this.idle.push(child);
          resolve(m.result);
        } else if (m.type === 'failed') {
          done();
          this.idle.push(child);
          reject(new Error(m.message));
        } else {
          onMessage(m);
        }
      };
      const onExit = (code: number | null, signal: string | null): void => {
        done();
        reject(new Error(`its compute process died (${signal ?? `exit code ${code}`})`));
      };
      child.on('message', onMsg);
      child.on('exit', onExit);
      child.send(msg);
    });
  }

  close(): void {
    for (const c of this.all) {
      if (c.connected) c.disconnect();
      if (c.exitCode === null) c.kill();
    }
  }
}
