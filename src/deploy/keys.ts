// Server keys (layerlock keygen) and device certificates as the normal world reads them.
//
//   server.key (mode 0600)  {"format":"layerlock-server-key/1","key_id", "signing":{"alg":"Ed25519","private_key_pem"},
//                             "hpke":{"kem":"DHKEM(X25519, HKDF-SHA256)","private_key_pem"}}
//   server.pub               {"format":"layerlock-server-pub/1","key_id", "signing":{"alg":"Ed25519","public_key_pem"},
//                             "hpke":{"kem","kdf","aead","public_key_pem"}}
// PEMs are PKCS#8 (private) and SPKI (public), so `openssl pkey` reads them. The Ed25519 key signs
// packages; the X25519 key receives exports (HPKE). key_id names the signing key.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ContainerError, HPKE_SUITE, keyId, rawPublicKey, verifyDeviceCert, type DeviceCert, type DeviceCertBody } from '../tee/shared/container.js';
import { atomicCreate, ensureDir } from '../util/fsutil.js';

/** A key file that is missing, malformed or of the wrong kind: one clear line. */
export class KeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}

export interface ServerPublic {
  keyId: string;
  /** Raw 32-byte public keys. */
  ed25519: Buffer;
  x25519: Buffer;
}

export interface ServerKeys extends ServerPublic {
  signing: KeyObject;
  /** Raw 32-byte X25519 private key (HPKE recipient). */
  x25519Private: Buffer;
}

async function readJson(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KeyFileError(`${path}: cannot read the ${what}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new KeyFileError(`${path}: not a ${what} (not JSON)`);
  }
}

function pem(o: unknown, field: string, path: string, what: string): string {
  const v = (o as Record<string, unknown> | undefined)?.[field];
  if (typeof v !== 'string' || !v.includes('-----BEGIN')) throw new KeyFileError(`${path}: not a ${what} (no ${field})`);
  return v;
}

export async function generateServerKeys(dir: string): Promise<{ keyPath: string; pubPath: string; keyId: string }> {
  await ensureDir(dir);
  const keyPath = join(dir, 'server.key');
  const pubPath = join(dir, 'server.pub');
  const sig = generateKeyPairSync('ed25519');
  const kem = generateKeyPairSync('x25519');
  const id = keyId(rawPublicKey(sig.publicKey));
  const priv = {
    format: 'layerlock-server-key/1',
    key_id: id,
    signing: { alg: 'Ed25519', private_key_pem: sig.privateKey.export({ format: 'pem', type: 'pkcs8' }) },
    hpke: { kem: HPKE_SUITE.kem, private_key_pem: kem.privateKey.export({ format: 'pem', type: 'pkcs8' }) },
  };
  const pub = {
    format: 'layerlock-server-pub/1',
    key_id: id,
    signing: { alg: 'Ed25519', public_key_pem: sig.publicKey.export({ format: 'pem', type: 'spki' }) },
    hpke: { kem: HPKE_SUITE.kem, kdf: HPKE_SUITE.kdf, aead: HPKE_SUITE.aead, public_key_pem: kem.publicKey.export({ format: 'pem', type: 'spki' }) },
  };
  try {
    await atomicCreate(keyPath, JSON.stringify(priv, null, 2) + '\n', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileError(`${keyPath} already exists: refusing to overwrite a server key (move it away first)`);
    throw e;
  }
  try {
    await atomicCreate(pubPath, JSON.stringify(pub, null, 2) + '\n', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileError(`${pubPath} already exists: refusing to overwrite it (move it away first)`);
    throw e;
  }
  return { keyPath, pubPath, keyId: id };
}

export async function loadServerPublic(path: string): Promise<ServerPublic> {
  const what = 'layerlock server public key (server.pub)';
  const j = await readJson(path, what);
  if (j['format'] === 'layerlock-server-key/1') throw new KeyFileError(`${path} is a server PRIVATE key: give the server.pub next to it`);
  if (j['format'] !== 'layerlock-server-pub/1') throw new KeyFileError(`${path}: not a ${what}`);
  try {
    const ed = createPublicKey(pem(j['signing'], 'public_key_pem', path, what));
    const x = createPublicKey(pem(j['hpke'], 'public_key_pem', path, what));
    if (ed.asymmetricKeyType !== 'ed25519' || x.asymmetricKeyType !== 'x25519') throw new KeyFileError(`${path}: expected an Ed25519 and an X25519 key`);
    const ed25519 = rawPublicKey(ed);
    const id = keyId(ed25519);
    if (j['key_id'] !== id) throw new KeyFileError(`${path}: key_id does not name its signing key (edited?)`);
    return { keyId: id, ed25519, x25519: rawPublicKey(x) };
  } catch (e) {
    if (e instanceof KeyFileError) throw e;
    throw new KeyFileError(`${path}: not a ${what} (${(e as Error).message})`);
  }
}

export async function loadServerKey(path: string): Promise<ServerKeys> {
  const what = 'layerlock server private key (server.key)';
  const j = await readJson(path, what);
  if (j['format'] === 'layerlock-server-pub/1') throw new KeyFileError(`${path} is a server PUBLIC key: give the server.key next to it`);
  if (j['format'] !== 'layerlock-server-key/1') throw new KeyFileError(`${path}: not a ${what}`);
  try {
    const signing = createPrivateKey(pem(j['signing'], 'private_key_pem', path, what));
    const kem = createPrivateKey(pem(j['hpke'], 'private_key_pem', path, what));
    if (signing.asymmetricKeyType !== 'ed25519' || kem.asymmetricKeyType !== 'x25519') throw new KeyFileError(`${path}: expected an Ed25519 and an X25519 key`);
    const ed25519 = rawPublicKey(createPublicKey(signing));
    const x25519 = rawPublicKey(createPublicKey(kem));
    const x25519Private = Buffer.from((kem.export({ format: 'jwk' }) as { d: string }).d, 'base64url');
    return { keyId: keyId(ed25519), ed25519, x25519, signing, x25519Private };
  } catch (e) {
    if (e instanceof KeyFileError) throw e;
    throw new KeyFileError(`${path}: not a ${what} (${(e as Error).message})`);
  }
}

export interface VerifiedDeviceCert {
  body: DeviceCertBody;
  deviceId: string;
  identity: Buffer;
  hpke: Buffer;
}

/** Reads DEV/device.cert and checks its self-signature (the emulated attestation). */
export async function loadDeviceCert(path: string): Promise<VerifiedDeviceCert> {
  const j = await readJson(path, 'layerlock device certificate');
  try {
    const v = verifyDeviceCert(j as unknown as DeviceCert, path);
    return { body: v.body, deviceId: v.body.device_id, identity: v.identity, hpke: v.hpke };
  } catch (e) {
    if (e instanceof ContainerError) throw new KeyFileError(e.message);
    throw e;
  }
}
