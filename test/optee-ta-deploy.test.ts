// The OP-TEE TA's deployment commands in C (optee/ta/deploy.c, hkdf.c, hpke.c over llcrypto.h and
// llstore.h), built natively with the host's OpenSSL 3 libcrypto standing in for OP-TEE's GP crypto
// (optee/ta/test/crypto_host.c) and a folder standing in for its secure storage
// (optee/ta/test/store_host.c), against the TypeScript side: HKDF on RFC 5869's vectors, HPKE both
// ways with src/tee/shared/hpke.ts, and whole device lifecycles through the C dispatcher with packages
// made by src/deploy and exports read back by the normal world's code; where the software TA must give
// the same answer (codes, messages) both are asked the same thing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hkdfSync } from 'node:crypto';
import { hpkeOpen, hpkeSeal } from '../src/tee/shared/hpke.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TA = join(ROOT, 'optee', 'ta');
const dir = mkdtempSync(join(tmpdir(), 'layerlock-ta-deploy-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
// OP-TEE's TA dev kit flags (mk/compile.mk at WARNS=3, -Werror), as test/optee-ta-session.test.ts uses them.
const WARNINGS = ['-Werror', '-Wall', '-Wcast-align', '-Werror-implicit-function-declaration', '-Wextra', '-Wfloat-equal', '-Wformat-nonliteral',
  '-Wformat-security', '-Wformat=2', '-Winit-self', '-Wmissing-declarations', '-Wmissing-format-attribute', '-Wmissing-include-dirs',
  '-Wmissing-noreturn', '-Wmissing-prototypes', '-Wnested-externs', '-Wpointer-arith', '-Wshadow', '-Wstrict-prototypes', '-Wswitch-default',
  '-Wwrite-strings', '-Wno-missing-field-initializers', '-Wno-format-zero-length', '-Waggregate-return', '-Wredundant-decls', '-Winline',
  '-Wold-style-definition', '-Wstrict-aliasing=2', '-Wundef', '-pedantic', '-Wdeclaration-after-statement'];
const CFLAGS = ['-std=gnu99', '-O2', '-ffp-contract=off', '-fno-math-errno', ...WARNINGS, `-I${join(TA, 'include')}`];
const LIBSSL = '/usr/include/openssl/evp.h';

function build(name: string, sources: string[]): string {
  const exe = join(dir, name);
  const r = spawnSync('cc', [...CFLAGS, ...sources.map((s) => join(TA, s)), '-o', exe, '-lcrypto'], { encoding: 'utf8' });
  assert.ok(!r.error, `no C compiler (cc): ${r.error?.message}`);
  assert.equal(r.status, 0, r.stderr);
  return exe;
}

test('the host has libcrypto\'s headers (the C TA\'s native tests use OpenSSL 3 in place of OP-TEE\'s GP crypto)', () => {
  assert.ok(existsSync(LIBSSL), `${LIBSSL} is missing: install the Debian package libssl-dev (apt-get install libssl-dev)`);
});

let cryptoExe = '';
function crypto(lines: string[]): string[] {
  cryptoExe ||= build('crypto_dump', ['hkdf.c', 'hpke.c', 'test/crypto_host.c', 'test/crypto_dump.c']);
  const r = spawnSync(cryptoExe, [], { input: lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trimEnd().split('\n');
}
const h = (b: Uint8Array | string): string => (typeof b === 'string' ? Buffer.from(b) : Buffer.from(b)).toString('hex') || '-';

test('HKDF-SHA256 in C: RFC 5869 test cases 1-3 (extract and expand) and Node\'s hkdf on odd lengths', () => {
  const cases = [
    { ikm: '0b'.repeat(22), salt: '000102030405060708090a0b0c', info: 'f0f1f2f3f4f5f6f7f8f9', L: 42,
      prk: '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5',
      okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865' },
    { ikm: Buffer.from(Array.from({ length: 80 }, (_, i) => i)).toString('hex'), salt: Buffer.from(Array.from({ length: 80 }, (_, i) => 0x60 + i)).toString('hex'),
      info: Buffer.from(Array.from({ length: 80 }, (_, i) => 0xb0 + i)).toString('hex'), L: 82,
      prk: '06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244',
      okm: 'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87' },
    { ikm: '0b'.repeat(22), salt: '-', info: '-', L: 42,
      prk: '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04',
      okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8' },
  ];
  // (case 2's salt is 80 bytes, longer than SHA-256's block: HMAC hashes it first; the TA itself only extracts with 0- or 32-byte salts)
  const out = crypto(cases.flatMap((c) => [`EXTRACT ${c.salt} ${c.ikm}`, `EXPAND ${c.prk} ${c.info} ${c.L}`]));
  cases.forEach((c, i) => {
    assert.equal(out[2 * i], c.prk, `case ${i + 1}: PRK`);
    assert.equal(out[2 * i + 1], c.okm, `case ${i + 1}: OKM`);
  });
  // extract then expand at lengths around the block size, against Node's hkdf
  const ikm = Buffer.from('layerlock input keying material');
  const salt = Buffer.alloc(32, 9);
  const [prk = ''] = crypto([`EXTRACT ${h(salt)} ${h(ikm)}`]);
  const lengths = [1, 31, 32, 33, 64, 65, 255 * 32];
  const got = crypto([...lengths.map((L) => `EXPAND ${prk} ${h('ctx')} ${L}`), `EXPAND ${prk} - ${255 * 32 + 1}`]);
  lengths.forEach((L, i) => assert.equal(got[i], Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('ctx'), L)).toString('hex'), `L = ${L}`));
  assert.equal(got.at(-1), 'FAIL', 'more than 255 blocks is refused');
});

test('HPKE in C = src/tee/shared/hpke.ts: TS seals → C opens, C seals → TS opens, any flipped bit is refused', async () => {
  const [xkey = ''] = crypto(['X25519KEY']);
  const [sk, pk] = xkey.split(' ').map((x) => Buffer.from(x, 'hex'));
  const info = Buffer.from('layerlock/v1 protected layers');
  const aad = Buffer.from('{"aad":"layerlock/v1","layer":9}');
  const messages = [Buffer.alloc(0), Buffer.from('x'), Buffer.from(Array.from({ length: 100_003 }, (_, i) => (i * 7) & 255))];
  const sealed = await Promise.all(messages.map((m) => hpkeSeal(pk!, info, aad, m)));
  const opened = crypto(sealed.map((s) => `OPEN ${h(sk!)} ${h(pk!)} ${h(info)} ${h(aad)} ${h(s)}`));
  messages.forEach((m, i) => assert.equal(opened[i], h(m), `message ${i} (${m.length} bytes) opens in C`));
  // tampering: each of enc, ciphertext, tag; the aad; the info
  const s = sealed[2]!;
  const flips = [0, 31, 32, 5000, s.length - 17, s.length - 1].map((at) => {
    const t = Buffer.from(s);
    t[at]! ^= 1;
    return `OPEN ${h(sk!)} ${h(pk!)} ${h(info)} ${h(aad)} ${h(t)}`;
  });
  flips.push(`OPEN ${h(sk!)} ${h(pk!)} ${h(info)} ${h(Buffer.from('other'))} ${h(s)}`, `OPEN ${h(sk!)} ${h(pk!)} ${h('other')} ${h(aad)} ${h(s)}`);
  assert.deepEqual(crypto(flips), flips.map(() => 'FAIL'));
  // the other way: sealed in C to a key the TS side holds
  const { generateKeyPairSync } = await import('node:crypto');
  const kp = generateKeyPairSync('x25519');
  const rawPub = Buffer.from((kp.publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url');
  const rawPriv = Buffer.from((kp.privateKey.export({ format: 'jwk' }) as { d: string }).d, 'base64url');
  const cSealed = crypto(messages.map((m) => `SEAL ${h(rawPub)} ${h(info)} ${h(aad)} ${h(m)}`));
  for (const [i, m] of messages.entries()) {
    const c = Buffer.from(cSealed[i]!, 'hex');
    assert.equal(c.length, 32 + m.length + 16);
    assert.deepEqual(await hpkeOpen(rawPriv, info, aad, c), m, `message ${i} sealed in C opens in TS`);
    const t = Buffer.from(c);
    t[t.length - 1]! ^= 0x80;
    await assert.rejects(hpkeOpen(rawPriv, info, aad, t), `message ${i}: a flipped tag bit is refused by TS`);
  }
  // two seals of one message differ (a fresh ephemeral key each time)
  const [a, b] = crypto([1, 2].map(() => `SEAL ${h(rawPub)} ${h(info)} ${h(aad)} ${h('same')}`));
  assert.notEqual(a, b);
});

test('Ed25519 in C = node:crypto: C signs → Node verifies, Node signs → C verifies', async () => {
  const { generateKeyPairSync, sign, verify, createPublicKey } = await import('node:crypto');
  const [k = ''] = crypto(['ED25519KEY']);
  const [priv, pub] = k.split(' ');
  const msg = Buffer.from('layerlock/device-cert/v1\0{"x":1}');
  const [sig] = crypto([`SIGN ${priv} ${pub} ${h(msg)}`]);
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pub!, 'hex').toString('base64url') }, format: 'jwk' });
  assert.ok(verify(null, msg, key, Buffer.from(sig!, 'hex')));
  const kp = generateKeyPairSync('ed25519');
  const npub = Buffer.from((kp.publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url');
  const nsig = sign(null, msg, kp.privateKey);
  const bad = Buffer.from(nsig);
  bad[10]! ^= 4;
  assert.deepEqual(crypto([`VERIFY ${h(npub)} ${h(msg)} ${h(nsig)}`, `VERIFY ${h(npub)} ${h(msg)} ${h(bad)}`, `VERIFY ${h(npub)} ${h('other')} ${h(nsig)}`]),
    ['OK', 'FAIL', 'FAIL']);
});
