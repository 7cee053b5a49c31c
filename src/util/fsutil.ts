// File-system helpers shared by every module that must never leave a torn file behind (weights,
// exposure results, deployment state): atomic writes (temp file in the same folder, fsync, rename,
// fsync of the folder), create-only writes, and a per-device lock so two commands never interleave
// their saves on one device folder.
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

async function syncDir(dir: string): Promise<void> {
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // best effort: some platforms cannot fsync a folder; rename is still atomic
  }
}

/** True for the temp files atomicWrite/atomicCreate use: a kill can leave one behind, and only those. */
export function isAtomicTemp(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

async function writeTemp(path: string, data: Uint8Array, mode: number): Promise<string> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  return tmp;
}

/** Replaces `path` atomically: readers see the old file or the new one, never a torn one. */
export async function atomicWrite(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = await writeTemp(path, bytes, mode);
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDir(dirname(path));
}

/** Creates `path` atomically, failing with EEXIST (and writing nothing) if it exists. */
export async function atomicCreate(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = await writeTemp(path, bytes, mode);
  try {
    await link(tmp, path);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await syncDir(dirname(path));
}

export async function ensureDir(dir: string, mode = 0o700): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
}

/** A device folder is used by one command at a time. */
export class DeviceBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceBusyError';
  }
}

/** Whether a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes DEV/.lock (a stale lock of a dead process is taken over); returns the release function. */
export async function lockDevice(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, '.lock');
  const token = `${process.pid} ${randomBytes(8).toString('hex')}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(token);
      await fh.close();
      return async () => {
        const now = await readFile(path, 'utf8').catch(() => '');
        if (now === token) await unlink(path).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const held = await readFile(path, 'utf8').catch(() => '');
      const pid = Number(held.split(' ')[0]);
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) {
        throw new DeviceBusyError(`${dir} is in use by another layerlock process (pid ${pid}); try again when it has finished`);
      }
      await unlink(path).catch(() => undefined);
    }
  }
  throw new DeviceBusyError(`${dir}: could not take the device lock ${path}`);
}

/**
 * fsyncs every file of a folder, then the folder: the TA cannot fsync under Node's permission model,
 * so after a command that wrote to its storage the normal world makes the writes durable (as OP-TEE's
 * tee-supplicant does the secure storage's file I/O).
 */
export async function syncFolder(dir: string): Promise<void> {
  const { readdir } = await import('node:fs/promises');
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    try {
      const fh = await open(join(dir, f), 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch {
      // removed meanwhile, or not a regular file
    }
  }
  await syncDir(dir);
}
