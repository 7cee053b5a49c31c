// What every coordinator (`exposure --queue`, `attack sweep --queue`) does with the queue, once:
// open the connections, enqueue a run's jobs as one BullMQ flow (children = the independent
// jobs, parent = the aggregation) so that a restarted coordinator enqueues nothing twice, give
// failed jobs their attempts back, and follow the children until each one's result has been
// handed to the caller (who stores it once). The callers only say which jobs and what a result
// means.
import { FlowProducer, Queue, QueueEvents, type FlowJob } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUE_NAME } from './payload.js';
import { connect, whenReady } from './connection.js';
import { scrub, type QueueTarget } from './url.js';

/** The clients of one coordinator invocation. */
export interface QueueClients {
  redis: Redis;
  queue: Queue;
  flows: FlowProducer;
  events: QueueEvents;
}

/**
 * Runs fn with connected clients and closes them afterwards, whatever happens. `label` prefixes
 * the clients' error lines (e.g. "layerlock exposure"); the password never appears in them.
 */
export async function withQueue<T>(target: QueueTarget, label: string, log: (line: string) => void, fn: (c: QueueClients) => Promise<T>): Promise<T> {
  const redis = connect(target, log);
  await whenReady(redis, target);
  const eventsConn = connect(target, log);
  const queue = new Queue(QUEUE_NAME, { connection: redis });
  const flows = new FlowProducer({ connection: redis });
  const events = new QueueEvents(QUEUE_NAME, { connection: eventsConn });
  queue.on('error', (e) => log(scrub(`${label}: queue: ${e.message}`, target)));
  flows.on('error', (e) => log(scrub(`${label}: queue: ${e.message}`, target)));
  events.on('error', (e) => log(scrub(`${label}: queue events: ${e.message}`, target)));
  try {
    return await fn({ redis, queue, flows, events });
  } finally {
    await events.close().catch(() => {});
    await flows.close().catch(() => {});
    await queue.close().catch(() => {});
    redis.disconnect();
    eventsConn.disconnect();
  }
}

/** One job of a flow: its id is derived from the run's identity, so it names the same work everywhere. */
export interface FlowJobSpec {
  id: string;
  name: string;
  data: object;
}

export interface EnqueueOptions {
  target: QueueTarget;
  label: string;
  log: (line: string) => void;
  parent: FlowJobSpec;
  children: readonly FlowJobSpec[];
  /** Tries per child before it fails for good (a refusing or crashing worker uses one). */
  attempts?: number;
}

/**
 * Enqueues the flow unless its parent is already on the queue (an earlier invocation's); children
 * already there (from an earlier invocation or another flow of the same run) are not added again.
 * Returns how many jobs this call added (0: enqueued earlier).
 */
export async function enqueueFlowOnce(c: QueueClients, o: EnqueueOptions): Promise<number> {
  let enqueued = 0;
  const existing = await Promise.all(o.children.map((ch) => c.queue.getJob(ch.id)));
  if ((await c.queue.getJob(o.parent.id)) === undefined) {
    const fresh = o.children.filter((_, i) => existing[i] === undefined);
    const attempts = o.attempts ?? 3;
    const flow: FlowJob = {
      name: o.parent.name, queueName: QUEUE_NAME, data: o.parent.data,
      opts: { jobId: o.parent.id },
      children: fresh.map((ch) => ({
        name: ch.name, queueName: QUEUE_NAME, data: ch.data,
        opts: { jobId: ch.id, attempts, backoff: { type: 'exponential', delay: 1000 } },
      })),
    };
    await c.flows.add(flow);
    enqueued = fresh.length + 1;
  }
  // Jobs that failed for good in an earlier invocation (e.g. refused by a misconfigured worker)
  // get their attempts back: running the command again is how a user retries.
  for (const j of existing) {
    if (j && (await j.getState()) === 'failed') {
      o.log(`${o.label}: retrying ${j.id} (it failed before: ${scrub(j.failedReason ?? '', o.target)})`);
      await j.retry('failed');
    }
  }
  return enqueued;
}

export interface FollowOptions {
  target: QueueTarget;
  label: string;
  log: (line: string) => void;
  parentId: string;
  childIds: readonly string[];
  /** What happens to a stalled job, for the log line (e.g. "another worker continues it from its last checkpoint"). */
  stalledNote: string;
  /** How often the states are checked besides listening to events (ms). */
  pollMs?: number;
  onActive?: (id: string) => void;
  onProgress?: (id: string, data: Record<string, unknown>) => void;
  /** An attempt of a child failed (it may be retried). */
  onAttemptFailed?: (id: string) => void;
  /** A child's result (the job's return value, unvalidated): validate it and store it once. */
  onCompleted: (id: string, returnvalue: unknown) => Promise<void>;
  /** Called before following fails because a child failed for good. */
  onFailed?: (id: string, message: string) => void;
}

/**
 * Follows the children until every one has completed and onCompleted has run for it, then waits
 * (briefly) for the parent. A child failed for good or gone from the queue ends the run with one
 * clear error (running the same command again retries it).
 */
export async function followFlow(c: QueueClients, o: FollowOptions): Promise<void> {
  const ids = new Set(o.childIds);
  let wake: (() => void) | null = null;
  const poke = (): void => wake?.();
  c.events.on('active', ({ jobId }) => {
    if (ids.has(jobId)) o.onActive?.(jobId);
  });
  c.events.on('progress', ({ jobId, data }) => {
    if (ids.has(jobId) && typeof data === 'object' && data !== null) o.onProgress?.(jobId, data as Record<string, unknown>);
  });
  c.events.on('stalled', ({ jobId }) => {
    if (ids.has(jobId)) o.log(`${o.label}: ${jobId} stalled (its worker stopped answering); ${o.stalledNote}`);
  });
  c.events.on('failed', ({ jobId, failedReason }) => {
    if (ids.has(jobId)) {
      o.log(`${o.label}: ${jobId}: ${scrub(failedReason, o.target)}`);
      o.onAttemptFailed?.(jobId);
    }
    poke();
  });
  c.events.on('completed', poke);
  await c.events.waitUntilReady();

  const left = new Set(ids);
  while (left.size > 0) {
    // Events make this loop react at once; the poll makes it correct even when an event was
    // missed (emitted before we listened, or while Redis was restarting).
    const states = await Promise.all([...left].map(async (q) => [q, await c.queue.getJobState(q)] as const));
    for (const [q, s] of states) {
      if (s === 'completed') {
        const job = await c.queue.getJob(q);
        await o.onCompleted(q, job?.returnvalue);
        left.delete(q);
      } else if (s === 'failed') {
        const job = await c.queue.getJob(q);
        const msg = `job ${q} failed on the queue after ${job?.attemptsMade ?? '?'} attempts: ${scrub(job?.failedReason ?? 'unknown reason', o.target)}`;
        o.onFailed?.(q, msg);
        throw new Error(`${msg} (fix the worker, then run the same command again to retry)`);
      } else if (s === 'unknown') {
        throw new Error(`job ${q} disappeared from the queue (removed by someone?); run the same command again to enqueue it`);
      }
    }
    if (left.size === 0) break;
    await new Promise<void>((r) => {
      const t = setTimeout(r, o.pollMs ?? 1000);
      wake = () => {
        clearTimeout(t);
        wake = null;
        r();
      };
    });
  }

  // The parent runs once its children are done; its summary is for dashboards and the log.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = await c.queue.getJobState(o.parentId);
    if (s === 'completed') {
      const p = await c.queue.getJob(o.parentId);
      const v = p?.returnvalue as { children?: unknown } | undefined;
      o.log(`${o.label}: aggregation ${o.parentId} done (${typeof v?.children === 'number' ? v.children : '?'} results)`);
      break;
    }
    if (s === 'failed' || s === 'unknown' || Date.now() > deadline) {
      o.log(`${o.label}: the flow's aggregation job ${o.parentId} is ${s}; the results are all stored, so this does not change the output`);
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
