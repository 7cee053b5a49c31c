// layerlock worker: runs exposure jobs and attack-sweep partitions from a BullMQ queue on this machine until stopped
// (SIGINT/SIGTERM). The coordinators are `layerlock exposure … --queue URL` and `layerlock attack sweep … --queue URL` (docs/distributed.md).
import { availableParallelism } from 'node:os';
import { queueTarget, QueueUrlError } from '../queue/url.js';
import { defaultCacheBytes } from '../exposure/index.js';
import { emit, flag, formatHelp, int, log, parse, parseByteSize, requireStr, str, UsageError, type CommandHelp } from './common.js';

export const help: CommandHelp = {
  usage: '--queue redis://[user:pass@]host:port[/db] [--jobs N] [--data DIR]',
  summary: 'Run exposure jobs and attack-sweep partitions from a Redis (BullMQ) queue on this machine, until stopped.',
  options: [
    ['--queue URL', 'the queue: redis://[user:pass@]host:port[/db], or rediss:// for TLS (the password is never printed); `env`: the URL in $LAYERLOCK_QUEUE_URL (not visible in ps)'],
    ['--jobs N', `jobs at a time (default: cores, here ${availableParallelism()}); native threads are shared between them`],
    ['--data DIR', "this machine's copy of the run's data, or embedded (default); checked against the run's content hash"],
    ['--cache-mem SIZE', 'memory for caching frozen layers\' activations, all jobs together (0 = off; default a quarter of the available memory); same results'],
    ['--stall-timeout S', 'seconds without a sign of life before a job counts as stalled and moves to another worker (default 30)'],
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, {
    queue: { type: 'string' },
    jobs: { type: 'string' },
    data: { type: 'string', default: 'embedded' },
    'stall-timeout': { type: 'string' },
    'cache-mem': { type: 'string' },
  });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('worker', help));
  let target;
  try {
    target = queueTarget(requireStr(p, 'queue'));
  } catch (e) {
    if (e instanceof QueueUrlError) throw new UsageError(e.message);
    throw e;
  }
  const jobs = int(p, 'jobs', 1);
  const stallSeconds = int(p, 'stall-timeout', 1);
  const data = str(p, 'data') ?? 'embedded';
  const cacheText = str(p, 'cache-mem');
  const cacheBytes = cacheText === undefined ? defaultCacheBytes() : /^\s*0+\s*$/.test(cacheText) ? 0 : parseByteSize(cacheText, '--cache-mem');
  const t0 = performance.now();
  // Loaded here so that `layerlock --help` and the other commands never load the Redis client.
  const { startWorker } = await import('../queue/worker.js');
  const counts = { completed: 0, failed: 0 };
  const worker = await startWorker({
    target, jobs, data, stallSeconds, cacheBytes, log,
    onJobEnd: (ok) => void (ok ? counts.completed++ : counts.failed++),
  });
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  log('layerlock worker: stopping (jobs in flight continue on another worker from their last checkpoint)');
  await worker.close();
  emit(p, { queue: target.display, ...counts, seconds: (performance.now() - t0) / 1000 }, () => `layerlock worker: ${counts.completed} jobs done, ${counts.failed} failed`);
}
