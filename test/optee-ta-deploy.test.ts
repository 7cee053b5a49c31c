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
import { hkdfSync, sign as edSign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { hpkeOpen, hpkeSeal } from '../src/tee/shared/hpke.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { parseCfg } from '../src/nn/cfg.js';
import { saveModel } from '../src/nn/model.js';
import { layerShapes, Network } from '../src/nn/network.js';
import { createPackage, generateServerKeys, importExport } from '../src/deploy/index.js';
import { loadServerKey, loadServerPublic } from '../src/deploy/keys.js';
import { Arena } from '../src/tee/ta/arena.js';
import { COMMANDS } from '../src/tee/ta/commands.js';
import { TaError, TrustedApp, type TaParam } from '../src/tee/ta/ta.js';
import {
  CMD_CONFIGURE, CMD_DEVICE_INIT, CMD_DEVICE_TRUST, CMD_EXPORT_ENCRYPTED, CMD_EXPORT_PARAMS_PLAINTEXT, CMD_FORWARD, CMD_INSTALL_ENCRYPTED,
  CMD_LOAD_PARAMS, CMD_SEAL_PROTECTED, CMD_UNSEAL_PROTECTED, TA_UUID, TEE_SUCCESS,
} from '../src/tee/shared/protocol.js';
import {
  canonicalJson, encodeHeader, parseManifest, sha256, sha256hex, signedMessage, splitContainer, verifyDeviceCert, type Manifest,
} from '../src/tee/shared/container.js';
import { configureParams, mem, NONE, out, val, type Param } from './optee-ta-recorder.js';

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

// ---------------------------------------------------------------------------------------------
// Whole device lifecycles: the C dispatcher (session_dump.c with the deployment files, OpenSSL and a
// folder for storage) and the software TA (in-process, its real command table) go through the same
// steps, each with its own device keys and packages made for its own certificate by src/deploy.

const SOURCES = ['cfg', 'strbuf', 'partition', 'commands', 'arena', 'rng', 'output', 'maxpool', 'sgd', 'dropout', 'avgpool', 'connected', 'conv',
  'batchnorm', 'localavgpool', 'softmax', 'llmath', 'cost', 'json', 'deploy', 'hkdf', 'hpke'].map((f) => `${f}.c`);
const CAPACITY = 12 << 20;
const VGG7 = readFileSync(join(ROOT, 'cfg', 'vgg7-mnist.cfg'), 'utf8');
const RANGE: [number, number] = [9, 13];

type P = Param | { kind: 'vout' };
const VOUT: P = { kind: 'vout' };
interface Rep { what: string; code: number; message: string; outs: (Uint8Array | number | null)[] }
type Step = [what: string, cmd: number, ...params: P[]];

const TYPE: Record<P['kind'], number> = { none: 0, value: 1, vout: 2, in: 5, out: 6 };
const typesOf = (ps: P[]): number => ps.reduce((t, p, i) => t | (TYPE[p.kind] << (4 * i)), 0);
const pad = (ps: P[]): P[] => [...ps, NONE, NONE, NONE, NONE].slice(0, 4);

interface Device {
  name: string;
  /** One session: the steps in order, their replies (outs: memref outputs' bytes and VALUE_OUTPUT a's, in order). */
  session(steps: Step[]): Promise<Rep[]>;
}

let sessionExe = '';
function cDevice(store: string): Device {
  sessionExe ||= build('session_dump_deploy', [...SOURCES, 'test/crypto_host.c', 'test/store_host.c', 'test/session_dump.c']);
  return {
    name: 'C',
    async session(steps) {
      const lines = [`TA ${CAPACITY}`, 'OPEN'];
      for (const [, cmd, ...ps] of steps) {
        const q = pad(ps);
        lines.push(`CMD ${cmd} ${typesOf(q)} ${q.map((p) => p.kind === 'value' ? `${p.a} ${p.b}` : p.kind === 'in' ? h(p.bytes) : p.kind === 'out' ? String(p.size) : '-').join(' ')}`);
      }
      lines.push('CLOSE');
      const r = spawnSync(sessionExe, [], { input: lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, LAYERLOCK_TA_STORE: store } });
      assert.equal(r.status, 0, r.stderr);
      const got = r.stdout.split('\n');
      let at = 2;
      assert.equal(got[0], 'R 0');
      return steps.map(([what, , ...ps]) => {
        const code = Number(got[at++]!.slice(2));
        const message = got[at++]!.slice(2);
        const outs = pad(ps).flatMap((p): Rep['outs'] => {
          if (p.kind === 'vout') return [code === TEE_SUCCESS ? Number(got[at++]!.split(' ')[1]) : (at++, null)];
          if (p.kind !== 'out') return [];
          const [size = '0', data = '-'] = got[at++]!.slice(2).split(' ');
          return [code === TEE_SUCCESS ? (data === '-' ? new Uint8Array(0) : Buffer.from(data, 'hex').subarray(0, Number(size))) : null];
        });
        return { what, code, message, outs };
      });
    },
  };
}

function softDevice(store: string): Device {
  const ta = new TrustedApp({ arena: new Arena(CAPACITY), kernels: referenceKernels, threads: 1, storageDir: store, diagnostics: false }, COMMANDS);
  return {
    name: 'TS',
    async session(steps) {
      const s = ta.openSession();
      const reps: Rep[] = [];
      try {
        for (const [what, cmd, ...ps] of steps) {
          const q = pad(ps);
          const tp: TaParam[] = q.map((p) => p.kind === 'value' ? { value: { a: p.a, b: p.b } } : p.kind === 'in' ? { memref: { buffer: p.bytes, size: p.bytes.length } }
            : p.kind === 'out' ? { memref: { buffer: null, size: p.size } } : {});
          let code = TEE_SUCCESS;
          let message = '';
          try {
            await ta.invoke(s, cmd, typesOf(q), tp);
          } catch (e) {
            if (!(e instanceof TaError)) throw e;
            code = e.code;
            message = e.message;
          }
          const outs = q.flatMap((p, i): Rep['outs'] => {
            if (p.kind === 'vout') return [code === TEE_SUCCESS ? tp[i]!.value!.a : null];
            if (p.kind !== 'out') return [];
            const m = tp[i]!.memref!;
            return [code === TEE_SUCCESS ? (m.buffer ?? new Uint8Array(0)).slice(0, m.size) : null];
          });
          reps.push({ what, code, message, outs });
        }
      } finally {
        ta.closeSession(s);
      }
      return reps;
    },
  };
}

const text = (b: Uint8Array | number | null | undefined): string => Buffer.from(b as Uint8Array).toString('utf8');

interface World { W: string; cfgPath: string; A: { keyPath: string; pubPath: string }; B: { keyPath: string; pubPath: string } }
let world: Promise<World> | null = null;
function getWorld(): Promise<World> {
  world ??= makeWorld();
  return world;
}
async function makeWorld(): Promise<World> {
  const cfgPath = join(dir, 'vgg7.cfg');
  writeFileSync(cfgPath, VGG7);
  const net = new Network(parseCfg(VGG7, cfgPath), { kernels: referenceKernels, seed: 3 });
  const W = join(dir, 'vgg7.weights');
  await saveModel(net, W);
  return { W, cfgPath, A: await generateServerKeys(join(dir, 'serverA')), B: await generateServerKeys(join(dir, 'serverB')) };
}

/** A package with its three parts as INSTALL_ENCRYPTED takes them. */
interface Pkg { file: Uint8Array; signed: Uint8Array; signature: Uint8Array; prot: Uint8Array; clear: Uint8Array; manifest: Manifest }
function parts(file: Uint8Array): Pkg {
  const c = splitContainer(file, 'test', 'package');
  const manifest = JSON.parse(text(c.manifestBytes)) as Manifest;
  return { file, signed: c.signed, signature: c.signature, prot: c.payload.subarray(manifest.clear.bytes), clear: c.payload.subarray(0, manifest.clear.bytes), manifest };
}
const installParams = (p: Pkg): P[] => [mem(p.signed), mem(p.signature), mem(p.prot), VOUT];

async function makePackage(w: World, cert: string, name: string, version: number, server = w.A): Promise<Pkg> {
  const outPath = join(dir, name);
  await createPackage({ cfg: w.cfgPath, weights: w.W, range: RANGE, deviceCert: cert, signingKey: server.keyPath, out: outPath, packageVersion: version, policy: 'full' });
  return parts(readFileSync(outPath));
}

/** A package whose manifest is changed and signed again by the server (so only the TA's later checks can refuse it). */
async function resigned(w: World, p: Pkg, edit: (m: Manifest, prot: Buffer) => void): Promise<Pkg> {
  const m = JSON.parse(JSON.stringify(p.manifest)) as Manifest;
  const prot = Buffer.from(p.prot);
  edit(m, prot);
  const manifest = canonicalJson(m);
  const head = encodeHeader({ format: 1, kind: 'package', manifestBytes: manifest.length, payloadBytes: p.clear.length + prot.length, signatureBytes: 64 });
  const signed = Buffer.concat([head, manifest]);
  const key = await loadServerKey(w.A.keyPath);
  const signature = edSign(null, signedMessage('package', signed), key.signing);
  return parts(Buffer.concat([signed, p.clear, prot, signature]));
}

interface Lifecycle { replies: Rep[]; cert: string; certPath: string; deviceId: string; packageIds: string[]; forward: Uint8Array; exported: Uint8Array; clear: Uint8Array }

/** The whole lifecycle on one device; `other` is the other device's certificate (for a package meant for it). */
async function lifecycle(dev: Device, store: string, otherCert: () => Promise<string>, ready: (certPath: string) => void): Promise<Lifecycle> {
  const w = await getWorld();
  const A = await loadServerPublic(w.A.pubPath);
  const B = await loadServerPublic(w.B.pubPath);
  const all: Rep[] = [];
  const run = async (steps: Step[]): Promise<Rep[]> => {
    const r = await dev.session(steps);
    all.push(...r);
    return r;
  };
  const byWhat = (r: Rep[], what: string): Rep => r.find((x) => x.what === what)!;
  // 1. keys, certificate, trust anchor
  const s1 = await run([
    ['DEVICE_INIT cert before init', CMD_DEVICE_INIT, val(1), out(16384)],
    ['DEVICE_TRUST before init', CMD_DEVICE_TRUST, mem(A.ed25519)],
    ['DEVICE_INIT into a short buffer', CMD_DEVICE_INIT, val(0), out(100)],
    ['DEVICE_INIT with wrong types', CMD_DEVICE_INIT, out(100)],
    ['DEVICE_INIT create', CMD_DEVICE_INIT, val(0), out(16384)],
    ['DEVICE_INIT create again', CMD_DEVICE_INIT, val(0), out(16384)],
    ['DEVICE_INIT cert', CMD_DEVICE_INIT, val(1), out(16384)],
    ['DEVICE_INIT unknown op', CMD_DEVICE_INIT, val(7), out(16384)],
    ['DEVICE_TRUST of 31 bytes', CMD_DEVICE_TRUST, mem(A.ed25519.subarray(1))],
    ['DEVICE_TRUST A', CMD_DEVICE_TRUST, mem(A.ed25519)],
    ['DEVICE_TRUST A again', CMD_DEVICE_TRUST, mem(A.ed25519)],
    ['DEVICE_TRUST B', CMD_DEVICE_TRUST, mem(B.ed25519)],
    ['DEVICE_INIT status', CMD_DEVICE_INIT, val(2), out(16384)],
  ]);
  const cert = text(byWhat(s1, 'DEVICE_INIT create').outs[0]);
  assert.equal(text(byWhat(s1, 'DEVICE_INIT cert').outs[0]), cert, `${dev.name}: DEVICE_CERT answers the certificate made at create`);
  const certPath = join(dir, `${dev.name}-device.cert`);
  writeFileSync(certPath, cert);
  ready(certPath);
  const deviceId = (JSON.parse(cert) as { certificate: { device_id: string } }).certificate.device_id;
  // 2. packages for this certificate (and one for the other device's), made by src/deploy
  const good = await makePackage(w, certPath, `${dev.name}-v5.pkg`, 5);
  const old = await makePackage(w, certPath, `${dev.name}-v4.pkg`, 4);
  const fromB = await makePackage(w, certPath, `${dev.name}-b.pkg`, 6, w.B);
  const forOther = await makePackage(w, await otherCert(), `${dev.name}-other.pkg`, 7);
  const flipSigned = { ...good, signed: Buffer.from(good.signed) };
  flipSigned.signed[good.signed.length - 40]! ^= 1;
  const flipLayer = { ...good, prot: Buffer.from(good.prot) };
  flipLayer.prot[100]! ^= 1;
  const undecryptable = await resigned(w, good, (m, prot) => {
    prot[200]! ^= 1; // a ciphertext byte, its hashes recomputed and signed: only the AEAD can tell
    m.protected.layers[0]!.sha256 = sha256hex(prot.subarray(0, m.protected.layers[0]!.bytes));
    m.protected.sha256 = sha256hex(prot);
  });
  const badSuite = await resigned(w, good, (m) => { m.hpke.kdf = 'HKDF-SHA512'; });
  const badLayout = await resigned(w, good, (m) => { m.protected.layers[0]!.index = 8; });
  const badCfg = await resigned(w, good, (m) => {
    m.cfg.text = m.cfg.text.replace('filters=16', 'filters=0');
    m.cfg.sha256 = sha256hex(Buffer.from(m.cfg.text));
  });
  const s2 = await run([
    ['INSTALL with wrong types', CMD_INSTALL_ENCRYPTED, mem(good.signed), mem(good.signature), mem(good.prot)],
    ['INSTALL: one byte of the signed region flipped', CMD_INSTALL_ENCRYPTED, ...installParams(flipSigned)],
    ['INSTALL: a 63-byte signature', CMD_INSTALL_ENCRYPTED, mem(good.signed), mem(good.signature.subarray(1)), mem(good.prot), VOUT],
    ['INSTALL: the header alone', CMD_INSTALL_ENCRYPTED, mem(good.signed.subarray(0, 20)), mem(good.signature), mem(good.prot), VOUT],
    ['INSTALL: one byte of an encrypted layer flipped', CMD_INSTALL_ENCRYPTED, ...installParams(flipLayer)],
    ['INSTALL: a ciphertext byte flipped, hashes re-signed', CMD_INSTALL_ENCRYPTED, ...installParams(undecryptable)],
    ['INSTALL: another HPKE suite, signed', CMD_INSTALL_ENCRYPTED, ...installParams(badSuite)],
    ['INSTALL: a layer table that is not the cfg\'s, signed', CMD_INSTALL_ENCRYPTED, ...installParams(badLayout)],
    ['INSTALL: a cfg that does not parse, signed', CMD_INSTALL_ENCRYPTED, ...installParams(badCfg)],
    ['INSTALL: signed by an untrusted server', CMD_INSTALL_ENCRYPTED, ...installParams(fromB)],
    ['INSTALL: for the other device', CMD_INSTALL_ENCRYPTED, ...installParams(forOther)],
    ['INSTALL v5', CMD_INSTALL_ENCRYPTED, ...installParams(good)],
    ['DEVICE_INIT status after install', CMD_DEVICE_INIT, val(2), out(16384)],
  ]);
  assert.equal(byWhat(s2, 'INSTALL v5').outs[0], 1, `${dev.name}: the first install is model version 1 (${byWhat(s2, 'INSTALL v5').message})`);
  // a copy of version 1 as stored now, put back once the device has moved past it (rollback)
  const file1 = join(store, dev.name === 'C' ? 'model-1' : 'model-1.sealed');
  const saved1 = readFileSync(file1);
  // 3. unseal into a configured session, inference, seal a new version, commit, discard
  const clearHash = sha256(good.clear);
  const shapes = layerShapes(parseCfg(VGG7, 'test'));
  const inputs = shapes[RANGE[0]]!.c * shapes[RANGE[0]]!.h * shapes[RANGE[0]]!.w;
  const act = new Float32Array(2 * inputs).map((_, i) => Math.sin(i * 0.37) * 2);
  const actBytes = new Uint8Array(act.buffer);
  const config = configureParams(VGG7, RANGE[0], RANGE[1], 2, 0, 'full');
  const s3 = await run([
    ['UNSEAL before CONFIGURE', CMD_UNSEAL_PROTECTED, val(1), mem(clearHash), out(4096)],
    ['SEAL_NEW before UNSEAL', CMD_SEAL_PROTECTED, val(0), mem(clearHash), VOUT],
    ['CONFIGURE', CMD_CONFIGURE, ...config],
    ['FORWARD before UNSEAL (seeded weights)', CMD_FORWARD, mem(actBytes), val(2), NONE, out(80)],
    ['UNSEAL with the wrong clear layers', CMD_UNSEAL_PROTECTED, val(1), mem(new Uint8Array(32)), out(4096)],
    ['UNSEAL of a version never issued', CMD_UNSEAL_PROTECTED, val(9), mem(clearHash), out(4096)],
    ['UNSEAL of version 0', CMD_UNSEAL_PROTECTED, val(0), mem(clearHash), out(4096)],
    ['UNSEAL v1', CMD_UNSEAL_PROTECTED, val(1), mem(clearHash), out(4096)],
    ['FORWARD', CMD_FORWARD, mem(actBytes), val(2), NONE, out(80)],
    ['LOAD_PARAMS in a deployed session', CMD_LOAD_PARAMS, mem(new Uint8Array(20))],
    ['EXPORT_PARAMS_PLAINTEXT in a deployed session', CMD_EXPORT_PARAMS_PLAINTEXT, out(1 << 20)],
    ['UNSEAL again', CMD_UNSEAL_PROTECTED, val(1), mem(clearHash), out(4096)],
    ['SEAL_NEW with a 31-byte hash', CMD_SEAL_PROTECTED, val(0), mem(clearHash.subarray(1)), VOUT],
    ['SEAL_NEW with COMMIT\'s types', CMD_SEAL_PROTECTED, val(0)],
    ['SEAL_COMMIT with SEAL_NEW\'s types', CMD_SEAL_PROTECTED, val(1), mem(clearHash), VOUT],
    ['SEAL unknown op', CMD_SEAL_PROTECTED, val(9)],
    ['SEAL_NEW', CMD_SEAL_PROTECTED, val(0), mem(clearHash), VOUT],
    ['DEVICE_INIT status after SEAL_NEW', CMD_DEVICE_INIT, val(2), out(16384)],
  ]);
  const forward = byWhat(s3, 'FORWARD').outs[0] as Uint8Array;
  assert.notEqual(h(forward), h(byWhat(s3, 'FORWARD before UNSEAL (seeded weights)').outs[0] as Uint8Array), `${dev.name}: UNSEAL loaded other weights than the seeded ones`);
  assert.equal(byWhat(s3, 'SEAL_NEW').outs[0], 2, `${dev.name}: SEAL_NEW (${byWhat(s3, 'SEAL_NEW').message})`);
  // a saved copy of version 2, put back after its discard, is refused
  const file2 = join(store, dev.name === 'C' ? 'model-2' : 'model-2.sealed');
  const saved = readFileSync(file2);
  await run([
    ['SEAL_DISCARD 1 (committed)', CMD_SEAL_PROTECTED, val(2, 1)],
    ['SEAL_DISCARD 2', CMD_SEAL_PROTECTED, val(2, 2)],
  ]);
  writeFileSync(file2, saved);
  const s4 = await run([
    ['SEAL_COMMIT 2 (discarded; its copy put back)', CMD_SEAL_PROTECTED, val(1, 2)],
    ['CONFIGURE', CMD_CONFIGURE, ...config],
    ['UNSEAL 2 (discarded; its copy put back)', CMD_UNSEAL_PROTECTED, val(2), mem(clearHash), out(4096)],
    ['UNSEAL v1 again', CMD_UNSEAL_PROTECTED, val(1), mem(clearHash), out(4096)],
    ['SEAL_NEW', CMD_SEAL_PROTECTED, val(0), mem(clearHash), VOUT],
    ['SEAL_COMMIT 3', CMD_SEAL_PROTECTED, val(1, 3)],
    ['SEAL_DISCARD 3 (committed)', CMD_SEAL_PROTECTED, val(2, 3)],
    ['DEVICE_INIT status after commit', CMD_DEVICE_INIT, val(2), out(16384)],
  ]);
  assert.equal(byWhat(s4, 'SEAL_NEW').outs[0], 3, `${dev.name}: the discarded number 2 is not issued again`);
  // 4. rollback and foreign packages against the committed state; export
  writeFileSync(file1, saved1);
  const s5 = await run([
    ['INSTALL an older package version', CMD_INSTALL_ENCRYPTED, ...installParams(old)],
    ['INSTALL v5 again', CMD_INSTALL_ENCRYPTED, ...installParams(good)],
    ['CONFIGURE with the development export flag', CMD_CONFIGURE, ...configureParams(VGG7, RANGE[0], RANGE[1], 2, 4, 'full')],
    ['UNSEAL 1 (older than the device; its copy put back)', CMD_UNSEAL_PROTECTED, val(1), mem(clearHash), out(4096)],
    ['UNSEAL 3 with the export flag', CMD_UNSEAL_PROTECTED, val(3), mem(clearHash), out(4096)],
    ['EXPORT to another server', CMD_EXPORT_ENCRYPTED, val(3), mem(B.x25519), mem(good.clear), out(1 << 20)],
    ['EXPORT with other clear layers', CMD_EXPORT_ENCRYPTED, val(3), mem(A.x25519), mem(good.clear.subarray(1)), out(1 << 20)],
    ['EXPORT of a removed version', CMD_EXPORT_ENCRYPTED, val(2), mem(A.x25519), mem(good.clear), out(1 << 20)],
    ['EXPORT 3', CMD_EXPORT_ENCRYPTED, val(3), mem(A.x25519), mem(good.clear), out(1 << 20)],
  ]);
  const s6 = await run([
    ['CONFIGURE a narrower range', CMD_CONFIGURE, ...configureParams(VGG7, 11, 13, 2, 0, 'full')],
    ['UNSEAL 3 into another range', CMD_UNSEAL_PROTECTED, val(3), mem(clearHash), out(4096)],
  ]);
  void s6;
  const s7 = await run([
    ['CONFIGURE top1', CMD_CONFIGURE, ...configureParams(VGG7, RANGE[0], RANGE[1], 2, 0, 'top1')],
    ['UNSEAL 3 under top1 (stricter than full)', CMD_UNSEAL_PROTECTED, val(3), mem(clearHash), out(10)],
  ]);
  void s7;
  return {
    replies: all, cert, certPath, deviceId, packageIds: [good, old, fromB].map((p) => p.manifest.package_id),
    forward, exported: byWhat(s5, 'EXPORT 3').outs[0] as Uint8Array, clear: good.clear,
  };
}

test('a whole device lifecycle through the C dispatcher = the software TA\'s: codes and messages of every step, status, inference outputs; the C certificate and export verify in the normal world', async (t) => {
  const cStore = join(dir, 'c-store');
  const tsStore = join(dir, 'ts-store');
  for (const d of [cStore, tsStore]) (await import('node:fs')).mkdirSync(d);
  // each lifecycle needs the other device's certificate for its "for the other device" package:
  // the software TA's device is made first (its steps do not depend on the C one's answers)
  let tsCert = '';
  let cCert = '';
  const waitFor = async (get: () => string): Promise<string> => {
    for (let i = 0; i < 2000 && !get(); i++) await new Promise((r) => setTimeout(r, 10));
    return get();
  };
  const tsRun = lifecycle(softDevice(tsStore), tsStore, () => waitFor(() => cCert), (p) => { tsCert = p; });
  const cRun = lifecycle(cDevice(cStore), cStore, () => waitFor(() => tsCert), (p) => { cCert = p; });
  const [ts, c] = await Promise.all([tsRun, cRun]);
  // the certificate: verified by the normal world's code; the TA and the keys are the C TA's
  const v = verifyDeviceCert(JSON.parse(c.cert), 'the C TA\'s certificate');
  assert.equal(v.body.ta_uuid, TA_UUID);
  assert.equal(v.body.device_id, c.deviceId);
  assert.match(v.body.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Math.abs(Date.parse(v.body.created) - Date.now()) < 10 * 60_000, 'created is now');
  assert.equal(JSON.stringify(JSON.parse(c.cert)), c.cert, 'canonicalJson form (JSON.stringify, no spaces)');
  const forged = JSON.parse(c.cert) as { certificate: { device_id: string } };
  forged.certificate.device_id = ts.deviceId;
  assert.throws(() => verifyDeviceCert(forged, 'forged'), /device_id does not name|does not verify/);
  // every step: the same code and message (device and package ids aside), the same JSON answers
  const norm = (s: string, l: Lifecycle, o: Lifecycle): string => {
    let x = s.replaceAll(l.deviceId, '<device>').replaceAll(o.deviceId, '<other device>');
    l.packageIds.forEach((id, i) => { x = x.replaceAll(id, `<package ${i}>`); });
    return x;
  };
  assert.equal(c.replies.length, ts.replies.length);
  let compared = 0;
  for (const [i, r] of ts.replies.entries()) {
    const q = c.replies[i]!;
    assert.equal(q.what, r.what);
    assert.equal(`${q.what}: 0x${(q.code >>> 0).toString(16)} ${norm(q.message, c, ts)}`, `${r.what}: 0x${(r.code >>> 0).toString(16)} ${norm(r.message, ts, c)}`);
    if (r.what.startsWith('DEVICE_INIT status') || r.what.startsWith('UNSEAL')) {
      assert.equal(q.outs.length, r.outs.length);
      if (r.code === TEE_SUCCESS) assert.equal(norm(text(q.outs[0]), c, ts), norm(text(r.outs[0]), ts, c), `${r.what}: JSON`);
    }
    if (typeof r.outs[0] === 'number') assert.equal(q.outs[0], r.outs[0], `${r.what}: the version`);
    if (r.what.startsWith('FORWARD')) assert.equal(h(q.outs[0] as Uint8Array), h(r.outs[0] as Uint8Array), `${r.what}: probabilities`);
    compared++;
  }
  const codes = new Set(c.replies.map((r) => r.code >>> 0));
  assert.ok(codes.size >= 8, `many kinds of answers compared (${[...codes].map((x) => x.toString(16)).join(', ')})`);
  // the export: the normal world verifies the device's signature and decrypts the layers to the installed weights
  const w = await getWorld();
  const exportPath = join(dir, 'c.export');
  writeFileSync(exportPath, c.exported);
  const outW = join(dir, 'imported.weights');
  const imp = await importExport({ file: exportPath, key: w.A.keyPath, deviceCert: c.certPath, out: outW });
  assert.equal(imp.model_version, 3);
  assert.equal(imp.device_id, c.deviceId);
  assert.equal(h(readFileSync(outW)), h(readFileSync(w.W)), 'package → C TA → export → import gives back the trained weights, byte for byte');
  const m = parseManifest(splitContainer(c.exported, 'x', 'export').manifestBytes, c.exported.length - 32 - 64 - splitContainer(c.exported, 'x', 'export').manifestBytes.length, 'export', 'x');
  assert.deepEqual(m.protected.layers.map((l) => l.index), [9, 11]);
  // a flipped bit anywhere in the export is refused by the normal world
  const bad = Buffer.from(c.exported);
  bad[bad.length - 100]! ^= 1;
  writeFileSync(exportPath, bad);
  await assert.rejects(importExport({ file: exportPath, key: w.A.keyPath, deviceCert: c.certPath, out: outW }));
  t.diagnostic(`${compared} replies compared between the C and the software TA`);
  if (process.env.LL_DEBUG) for (const r of c.replies) t.diagnostic(`${r.what}: ${(r.code >>> 0).toString(16)} ${r.message}`);
});
