// Redis connections for the queue's clients (coordinator, workers).
import { Redis, type RedisOptions } from 'ioredis';
import { scrub, type QueueTarget } from './url.js';

/**
 * A Redis connection as BullMQ needs it: commands wait through disconnections instead of failing
 * (maxRetriesPerRequest null), and the client reconnects forever, so a restarted Redis server is
 * picked up again. Connection errors are reported through onError with the redacted URL only.
 */
export function connect(target: QueueTarget, onError: (message: string) => void): Redis {
  const opts: RedisOptions = {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(200 * times, 2000),
  };
  const redis = new Redis(target.url, opts);
  let last = 0;
  // Until the first connection, whenReady reports the failure (as the command's one error line).
  let connected = false;
  redis.once('ready', () => (connected = true));
  redis.on('error', (err: Error) => {
    // Reconnection attempts repeat the same error; one line every 10 s is enough.
    const now = Date.now();
    if (!connected || now - last < 10_000) return;
    last = now;
    onError(scrub(`Redis at ${target.display}: ${err.message}`, target));
  });
  return redis;
}

/** Errors that no reconnection cures: wrong credentials, missing permissions, an untrusted certificate. */
const PERMANENT = /WRONGPASS|NOAUTH|NOPERM|invalid password|certificate|self.signed|ERR_TLS|wrong version number/i;

/**
 * Waits until the connection is ready, so that a wrong URL, password or certificate fails the
 * command at once with one clear line instead of retrying forever; once connected, the client
 * reconnects forever (a Redis restart in the middle of a run is survived).
 */
export async function whenReady(redis: Redis, target: QueueTarget, timeoutMs = 20_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    let lastError = 'no answer';
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      if (err) {
        redis.disconnect();
        reject(err);
      } else {
        resolve();
      }
    };
    const fail = (why: string): Error => new Error(scrub(`cannot use Redis at ${target.display}: ${why}`, target));
    const onReady = (): void => done(null);
    const onError = (err: Error): void => {
      lastError = err.message;
      if (PERMANENT.test(err.message)) done(fail(err.message));
    };
    const timer = setTimeout(() => done(fail(`${lastError} (after ${timeoutMs / 1000} s)`)), timeoutMs);
    redis.on('ready', onReady);
    redis.on('error', onError);
  });
}
