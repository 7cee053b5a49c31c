// The TA's secure storage, after OP-TEE's REE-FS scheme: objects live as files in the TA's storage
// folder (the only folder its sandbox may write), each encrypted and authenticated with AES-256-GCM
// under a key only the TA can derive:
//
//   HUK  hardware-unique key: 32 random bytes made once per device (huk.bin). A real device fuses it
//        into the SoC where only the secure world can read it; here it is a file in the storage folder.
//   SSK  secure storage key = HKDF-SHA256(ikm HUK, salt "layerlock emulated chip id", info "layerlock SSK v1")
//   TSK  TA storage key     = HKDF-SHA256(ikm SSK, salt TA UUID (16 bytes), info "layerlock TSK v1")
//
// (OP-TEE derives SSK and TSK with HMAC-SHA256 and wraps a random per-file key with the TSK; we derive
// with HKDF and use the TSK directly with a fresh random 96-bit nonce per write.)
//
// A sealed object (file <name>.sealed):
//   8 magic "LLSEAL01" · u32 meta length · meta (UTF-8 JSON, authenticated, not secret) · 12 nonce · 16 tag · ciphertext
// The AAD is everything before the nonce; the meta names the object, so a file copied under another
// name is refused. Writes go to a temporary file, are fsynced and renamed over the target: a crash
// leaves either the old or the new object, never a torn one. Node's permission model disables fsync
// inside the TA, so durability is the normal world's job, as OP-TEE's tee-supplicant does the REE-FS
// I/O: after a command that wrote, it fsyncs the storage folder's files (src/deploy/device.ts).
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TA_UUID } from '../shared/protocol.js';

export const HUK_FILE = 'huk.bin';
export const SEAL_MAGIC = 'LLSEAL01';

/** A sealed object that does not open: tampered, swapped, or from another device/TA. */
export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealError';
  }
}

/** fsync where the platform allows it (not under Node 20's permission model: the normal world syncs then). */
function tryFsync(fd: number): void {
  try {
    fsyncSync(fd);
  } catch {
    // ERR_ACCESS_DENIED under the permission model
  }
}

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex');
}

export function deriveTsk(huk: Uint8Array, uuid = TA_UUID): Buffer {
  const ssk = Buffer.from(hkdfSync('sha256', huk, Buffer.from('layerlock emulated chip id'), Buffer.from('layerlock SSK v1'), 32));
  const tsk = Buffer.from(hkdfSync('sha256', ssk, uuidBytes(uuid), Buffer.from('layerlock TSK v1'), 32));
  ssk.fill(0);
  return tsk;
}

/** Encrypts and authenticates one object (pure: no I/O). */
export function sealBytes(key: Uint8Array, meta: Record<string, unknown>, plaintext: Uint8Array): Buffer {
  const m = Buffer.from(JSON.stringify(meta), 'utf8');
  const head = Buffer.alloc(12);
  head.write(SEAL_MAGIC, 0, 'latin1');
  head.writeUInt32LE(m.length, 8);
  const aad = Buffer.concat([head, m]);
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([aad, nonce, c.getAuthTag(), ct]);
}

/** Reads only the authenticated-but-clear meta of a sealed object (not yet verified!). */
export function peekMeta(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (b.length < 12 || b.toString('latin1', 0, 8) !== SEAL_MAGIC) return null;
    const n = b.readUInt32LE(8);
    return JSON.parse(b.toString('utf8', 12, 12 + n)) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Verifies and decrypts one object; `name` must be the name its meta was sealed with. */
export function unsealBytes(key: Uint8Array, bytes: Uint8Array, name: string): { meta: Record<string, unknown>; plaintext: Buffer } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 12 + 28 || b.toString('latin1', 0, 8) !== SEAL_MAGIC) throw new SealError(`sealed object ${name} is not a sealed object (bad magic or truncated)`);
  const n = b.readUInt32LE(8);
  if (12 + n + 28 > b.length) throw new SealError(`sealed object ${name} is truncated`);
  const aad = b.subarray(0, 12 + n);
  const nonce = b.subarray(12 + n, 24 + n);
  const tag = b.subarray(24 + n, 40 + n);
  const ct = b.subarray(40 + n);
  let plaintext: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(aad);
    d.setAuthTag(tag);
    plaintext = Buffer.concat([d.update(ct), d.final()]);
  } catch {
    throw new SealError(`sealed object ${name} fails authentication (tampered with, or sealed by another device or TA)`);
  }
  const meta = JSON.parse(aad.toString('utf8', 12)) as Record<string, unknown>;
  if (meta['object'] !== name) throw new SealError(`sealed object ${name} holds ${String(meta['object'])} (a sealed file was copied over another)`);
  return { meta, plaintext };
}

/** The TA's storage folder with its sealing key. */
export class SecureStorage {
  private key: Buffer | null = null;

  constructor(readonly dir: string) {}

  get hasHuk(): boolean {
    return existsSync(join(this.dir, HUK_FILE));
  }

  /** Creates the emulated hardware-unique key, once (a real device has it fused at manufacture). */
  createHuk(): void {
    const fd = openSync(join(this.dir, HUK_FILE), 'wx', 0o600);
    try {
      const huk = randomBytes(32);
      writeSync(fd, huk);
      tryFsync(fd);
      huk.fill(0);
    } finally {
      closeSync(fd);
    }
    this.syncDir();
  }

  private tsk(): Buffer {
    if (!this.key) {
      let huk: Buffer;
      try {
        huk = readFileSync(join(this.dir, HUK_FILE));
      } catch {
        throw new SealError('this device has no hardware-unique key (run layerlock device init)');
      }
      if (huk.length !== 32) throw new SealError(`the hardware-unique key (${HUK_FILE}) is damaged`);
      this.key = deriveTsk(huk);
      huk.fill(0);
    }
    return this.key;
  }

  private file(name: string): string {
    if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`bad object name ${name}`);
    return join(this.dir, `${name}.sealed`);
  }

  exists(name: string): boolean {
    return existsSync(this.file(name));
  }

  /** Seals and writes an object atomically (temp file, fsync, rename, fsync of the folder). */
  put(name: string, meta: Record<string, unknown>, plaintext: Uint8Array): void {
    const bytes = sealBytes(this.tsk(), { ...meta, object: name }, plaintext);
    const target = this.file(name);
    const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, bytes);
      tryFsync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(tmp, target);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
      throw e;
    }
    this.syncDir();
  }

  /** Reads and opens an object, or null when it does not exist. */
  get(name: string): { meta: Record<string, unknown>; plaintext: Buffer } | null {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.file(name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return unsealBytes(this.tsk(), bytes, name);
  }

  remove(name: string): void {
    try {
      unlinkSync(this.file(name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  /** Names of the sealed objects present (without .sealed). */
  list(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    return names.filter((n) => /^[a-z0-9-]+\.sealed$/.test(n)).map((n) => n.slice(0, -'.sealed'.length));
  }

  private syncDir(): void {
    try {
      const fd = openSync(this.dir, 'r');
      try {
        tryFsync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      // best effort: some platforms cannot fsync a directory; the rename is still atomic
    }
  }
}
