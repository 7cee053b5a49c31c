// HPKE (RFC 9180) for both worlds, through @hpke/core: mode base, DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256, AES-256-GCM. Node 20's WebCrypto has X25519, so @hpke/core's native KEM is enough
// (no @hpke/dhkem-x25519). Loaded lazily: the TA pays for it only when a deployment command runs
// (its sandbox allows reading the @hpke packages: see taLaunch in ../client.ts).
import { HPKE_ENC_BYTES } from './container.js';

type Suite = import('@hpke/core').CipherSuite;

let suite: Promise<Suite> | null = null;

function getSuite(): Promise<Suite> {
  suite ??= import('@hpke/core').then((m) => new m.CipherSuite({ kem: new m.DhkemX25519HkdfSha256(), kdf: new m.HkdfSha256(), aead: new m.Aes256Gcm() }));
  return suite;
}

/** A fresh ArrayBuffer with exactly these bytes (WebCrypto takes ArrayBuffers). */
function ab(b: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(b.byteLength);
  new Uint8Array(out).set(b);
  return out;
}

/** Single-shot HPKE seal to a raw X25519 public key: enc (32 bytes) ‖ ciphertext. */
export async function hpkeSeal(recipientPublic: Uint8Array, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Buffer> {
  const s = await getSuite();
  const pk = await s.kem.deserializePublicKey(ab(recipientPublic));
  const pt = ab(plaintext);
  try {
    const r = await s.seal({ recipientPublicKey: pk, info: ab(info) }, pt, ab(aad));
    return Buffer.concat([Buffer.from(r.enc), Buffer.from(r.ct)]);
  } finally {
    new Uint8Array(pt).fill(0);
  }
}

/** Opens enc ‖ ciphertext with a raw X25519 private key; throws on any authentication failure. */
export async function hpkeOpen(recipientPrivate: Uint8Array, info: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Promise<Buffer> {
  const s = await getSuite();
  const skBuf = ab(recipientPrivate);
  try {
    const sk = await s.kem.deserializePrivateKey(skBuf);
    const enc = ab(sealed.subarray(0, HPKE_ENC_BYTES));
    const pt = await s.open({ recipientKey: sk, enc, info: ab(info) }, ab(sealed.subarray(HPKE_ENC_BYTES)), ab(aad));
    return Buffer.from(pt);
  } finally {
    new Uint8Array(skBuf).fill(0);
  }
}
