// The --queue URL: redis://[user:pass@]host:port[/db] or rediss:// (TLS). Parsed and checked once;
// everything that prints it uses `display`, which never contains the password. (No Redis client
// here: the CLI parses URLs without loading one.)
export interface QueueTarget {
  /** The URL as given (with its password): only ever handed to the Redis client. */
  readonly url: string;
  /** The same URL with the password replaced by ***, for logs and messages. */
  readonly display: string;
  readonly password: string | null;
}

export class QueueUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueUrlError';
  }
}

/** Replaces the password of a redis URL (if any) by ***; non-URLs are returned as "(invalid URL)". */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    // A query could carry a password too (other clients accept ?password=): never shown.
    if (u.search) u.search = '?***';
    u.hash = '';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** The environment variable `--queue env` reads the URL from (kept out of `ps` and shell history). */
export const QUEUE_URL_ENV = 'LAYERLOCK_QUEUE_URL';

/** The --queue argument: a URL, or `env` for the URL in $LAYERLOCK_QUEUE_URL. */
export function queueTarget(arg: string, env: NodeJS.ProcessEnv = process.env): QueueTarget {
  if (arg !== 'env') return parseQueueUrl(arg);
  const url = env[QUEUE_URL_ENV];
  if (!url) throw new QueueUrlError(`--queue env: ${QUEUE_URL_ENV} is not set`);
  return parseQueueUrl(url);
}

export function parseQueueUrl(raw: string): QueueTarget {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new QueueUrlError(`--queue must be a URL like redis://host:6379 or rediss://user:pass@host:6380/0 (got ${redactUrl(raw)})`);
  }
  const display = redactUrl(raw);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new QueueUrlError(`--queue must start with redis:// or rediss:// (got ${display})`);
  if (!u.hostname) throw new QueueUrlError(`--queue has no host (got ${display})`);
  if (u.port && !(Number(u.port) >= 1 && Number(u.port) <= 65535)) throw new QueueUrlError(`--queue has an invalid port (got ${display})`);
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,4}$/.test(db)) throw new QueueUrlError(`--queue's path must be a database number like /0 (got ${display})`);
  if (u.search || u.hash) throw new QueueUrlError(`--queue takes no query or fragment (got ${display})`);
  return { url: raw, display, password: u.password ? decodeURIComponent(u.password) : null };
}

/** Removes the password from a message that might quote it (client errors, stack traces). */
export function scrub(message: string, target: QueueTarget): string {
  let m = message.split(target.url).join(target.display);
  if (target.password) m = m.split(target.password).join('***');
  return m;
}
