// A real redis-server for the queue tests: started on a free localhost port with its own temp data
// folder, a password, AOF persistence (so a restart keeps the queue, as in production), and
// stopped at the end. Never mocked: when redis-server is missing the tests fail with the hint.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const INSTALL_HINT = 'redis-server is not installed; the queue tests need a real one: apt-get update && apt-get install -y redis-server';

export interface RedisServer {
  port: number;
  password: string;
  /** redis://:password@127.0.0.1:port */
  url: string;
  /** A client of this server (closed by stop()). */
  client: Redis;
  /** Stops and starts the server on the same port and data (AOF): a Redis restart. */
  restart(pauseMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function waitReady(port: number, password: string, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}): ${log()}`);
    const c = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => {});
    try {
      await c.connect();
      if ((await c.ping()) === 'PONG') {
        c.disconnect();
        return;
      }
    } catch {
      // not up yet
    }
    c.disconnect();
    if (Date.now() > deadline) throw new Error(`redis-server did not start: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startRedis(): Promise<RedisServer> {
  const v = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0) throw new Error(INSTALL_HINT);
  const dir = await mkdtemp(join(tmpdir(), 'layerlock-redis-'));
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  let proc: ChildProcess;
  let output = '';
  const launch = async (): Promise<void> => {
    output = '';
    proc = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--requirepass', password,
      '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction', '--daemonize', 'no',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    await waitReady(port, password, proc, () => output.slice(-500));
  };
  const halt = async (): Promise<void> => {
    if (proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
  };
  await launch();
  const client = new Redis({ port, host: '127.0.0.1', password, maxRetriesPerRequest: null });
  client.on('error', () => {});
  return {
    port, password, url: `redis://:${password}@127.0.0.1:${port}`, client,
    async restart(pauseMs = 500) {
      await halt();
      await new Promise((r) => setTimeout(r, pauseMs));
      await launch();
    },
    async stop() {
      client.disconnect();
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
