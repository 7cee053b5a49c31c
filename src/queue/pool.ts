// The compute processes of a queue worker: for exposure jobs the same worker program the local
// runner forks (exposure/worker.ts), so a job computes exactly as in a local run; for attack
// partitions queue/attack-compute.ts. Computing runs there and not in the queue worker itself,
// whose event loop must stay free to renew the jobs' locks (BullMQ would otherwise take a long
// epoch for a dead worker) and to talk to Redis.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A program the pool forks: its file, and the environment variable that makes it listen for jobs. */
export interface ComputeProgram {
  file: string;
  env: string;
}

export const EXPOSURE_PROGRAM: ComputeProgram = { file: fileURLToPath(new URL('../exposure/worker.js', import.meta.url)), env: 'LAYERLOCK_EXPOSURE_WORKER' };
export const ATTACK_PROGRAM: ComputeProgram = { file: fileURLToPath(new URL('./attack-compute.js', import.meta.url)), env: 'LAYERLOCK_ATTACK_COMPUTE' };

/**
 * What a compute process says about a job: `done` with its result, `failed` with a message, or
 * anything else (progress, checkpoints, log lines) for the caller's onMessage.
 */
export interface ComputeMessage {
  type: string;
  id: string;
}

export class ComputePool {
  private readonly idle: ChildProcess[] = [];
  private readonly all = new Set<ChildProcess>();

  /** threads: native kernel threads per process (LAYERLOCK_THREADS), null to inherit. */
  constructor(private readonly program: ComputeProgram, private readonly threads: number | null) {}

  private spawn(): ChildProcess {
    const env: NodeJS.ProcessEnv = { ...process.env, [this.program.env]: '1' };
    if (this.threads !== null) env['LAYERLOCK_THREADS'] = String(this.threads);
    const child = fork(this.program.file, [], { env, execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.all.add(child);
    child.on('exit', () => {
      this.all.delete(child);
      const i = this.idle.indexOf(child);
      if (i >= 0) this.idle.splice(i, 1);
    });
    return child;
  }

  /** Runs job `id` (msg) in an idle process (a new one if none is idle); onMessage sees its other messages. */
  run<R, M extends ComputeMessage>(id: string, msg: object, onMessage: (m: M) => void): Promise<R> {
    const child = this.idle.pop() ?? this.spawn();
    return new Promise<R>((resolve, reject) => {
      const done = (): void => {
        child.off('message', onMsg);
        child.off('exit', onExit);
      };
      const onMsg = (m: M): void => {
        if (m.id !== id) return;
        if (m.type === 'done') {
          done();
          this.idle.push(child);
          resolve((m as unknown as { result: R }).result);
        } else if (m.type === 'failed') {
          done();
          this.idle.push(child);
          reject(new Error((m as unknown as { message: string }).message));
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
