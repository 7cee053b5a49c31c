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
  redis.on('error', (err: Error) => {
    // Reconnection attempts repeat the same error; one line every 10 s is enough.
    const now = Date.now();
    if (now - last < 10_000) return;
    last = now;
    onError(scrub(`Redis at ${target.display}: ${err.message}`, target));
  });
  return redis;
}
