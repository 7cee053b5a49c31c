// OP-TEE on the emulated Armv8 board (issue 17, milestones 1 and 2): boots the images that
// scripts/optee-qemu/build.sh built (TF-A + OP-TEE OS + U-Boot + Debian's arm64 kernel + our initramfs)
// in qemu-system-aarch64 -M virt,secure=on and checks what the guest reports from layerlock's smoke-test
// TA and, when the images carry them, from the layerlock TA (optee/ta) answering the recorded
// partitioned sessions exactly as the software TA does. Building the images takes minutes and needs the pinned sources, so this test never builds: when the
// images or QEMU are absent it is skipped, and says so loudly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/nn/rng.js';
import { ConnectedLayer } from '../src/nn/layers/connected.js';
import { Arena, ArenaOverflow } from '../src/tee/ta/arena.js';
import { guestSessions } from './optee-ta-recorder.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/optee-qemu/build.sh', import.meta.url));
const CACHE = process.env.LAYERLOCK_OPTEE_CACHE ?? join(homedir(), '.cache', 'layerlock-optee');
const MANIFEST = join(CACHE, 'out', 'bin', 'manifest.txt');
const TA_UUID = 'a2cbd6f4-0817-4cb6-bdf1-57c0ab8b19ef';
// A boot plus the check takes ~10 s on an idle machine, the session replay a few minutes more under
// emulation; leave room for a loaded one.
const BOOT_TIMEOUT_S = 900;
const LL_TA_UUID = '6c61796c-6c6f-4b54-a000-7a6500000005';

function hasQemu(): boolean {
  return spawnSync('qemu-system-aarch64', ['--version'], { encoding: 'utf8' }).status === 0;
}

function skipReason(): string | undefined {
  if (!existsSync(MANIFEST)) return `no OP-TEE images at ${MANIFEST} (build them with scripts/optee-qemu/build.sh all)`;
  if (!hasQemu()) return 'qemu-system-aarch64 is not installed (Debian package qemu-system-arm)';
  return undefined;
}

const reason = skipReason();
if (reason !== undefined) {
  process.stderr.write(`\n*** optee-qemu.test: SKIPPED — ${reason}. The OP-TEE board check did NOT run. ***\n\n`);
}
/** The recorded sessions' line of the manifest (`sessions … sha256 …`), if the images carry them. */
const sessionsLine = reason === undefined ? /^sessions \S+ \((\d+) bytes\) sha256 ([0-9a-f]{64})$/m.exec(readFileSync(MANIFEST, 'utf8')) : null;
const capacityLine = reason === undefined ? /^layerlock TA .* secure memory (\d+) B/m.exec(readFileSync(MANIFEST, 'utf8')) : null;
if (reason === undefined && !sessionsLine) {
  process.stderr.write('\n*** optee-qemu.test: the images carry no recorded sessions (built with LAYERLOCK_OPTEE_SESSION=0?): ' +
    'the layerlock TA\'s replay in the guest (milestone 2) does NOT run, only the smoke test. ***\n\n');
}

test('OP-TEE on QEMU v8: the guest reaches layerlock\'s TA through libteec and every check passes', { skip: reason ?? false, timeout: (BOOT_TIMEOUT_S + 60) * 1000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'layerlock-optee-'));
  try {
    const log = join(dir, 'run.log');
    const run = spawnSync('bash', [SCRIPT, 'boot'], {
      encoding: 'utf8',
      env: { ...process.env, LAYERLOCK_OPTEE_LOG: log, LAYERLOCK_OPTEE_TIMEOUT: String(BOOT_TIMEOUT_S) },
      maxBuffer: 64 * 1024 * 1024,
    });
    const text = existsSync(log) ? readFileSync(log, 'utf8') : run.stdout + run.stderr;
    assert.equal(run.status, 0, `build.sh boot failed:\n${run.stderr}\n${text.slice(-4000)}`);

    // Each stage of the chain left its mark: TF-A with the OP-TEE dispatcher, OP-TEE OS, Linux's driver.
    assert.match(text, /BL31: v2\.14\.0/);
    assert.match(text, /I\/TC: OP-TEE version: \S*4\.10/);
    assert.match(text, /optee: revision 4\.10/);
    assert.match(text, /optee: dynamic shared memory is enabled/);
    // OP-TEE loaded our TA from the REE file system through tee-supplicant (secure-world console).
    assert.match(text, new RegExp(`Lookup user TA ELF ${TA_UUID} \\(REE\\)`));

    const checks = [...text.matchAll(/^layerlock-optee-check: (.+?)\s{2,}(ok|FAILED) (.*)$/gm)];
    const names = checks.map((m) => m[1]);
    assert.deepEqual(names, ['TEEC_InitializeContext', 'TEEC_OpenSession', 'value round trip', 'dot, temp memrefs',
      'dot, registered shm', 'bad parameter types', 'TA heap probe', 'connected init in the TA', 'arena in the TA', 'invoke round trips']);
    for (const m of checks) assert.equal(m[2], 'ok', `check '${m[1]}' failed: ${m[3]}`);
    // The TA's float32 dot product equals the normal world's, bit for bit.
    const dot = /n=4096 TA (0x[0-9a-f]{8}) REE (0x[0-9a-f]{8})/.exec(text);
    assert.ok(dot, 'no dot-product line');
    assert.equal(dot[1], dot[2]);
    assert.match(text, /^LAYERLOCK_OPTEE_CHECK PASS \(0 failed\)$/m);

    // The layerlock TA's C pieces, run in OP-TEE's secure world, equal the TypeScript engine's.
    const init = /^layerlock-optee-data: connected-init (\d+) (\d+) (\d+) (\d+) ([0-9a-f ]+)$/m.exec(text);
    assert.ok(init, 'no connected-init data line');
    const [seed, index, inputs, outputs] = init.slice(1, 5).map(Number) as [number, number, number, number];
    const layer = new ConnectedLayer(index, { type: 'connected', output: outputs, activation: 'linear', batchNormalize: false, source: { file: 'test', line: 1 } }, { c: inputs, h: 1, w: 1 }, 1);
    layer.initialise(new Rng(seed, 'init', index));
    const bits = new Uint32Array(layer.weights.buffer, layer.weights.byteOffset, layer.weights.length);
    assert.deepEqual(init[5]!.trim().split(' ').map((h) => parseInt(h, 16)), Array.from(bits));
    const arenaLine = /^layerlock-optee-data: arena (\d+) (\d+) (\d+) (.*)$/m.exec(text);
    assert.ok(arenaLine, 'no arena data line');
    const arena = new Arena(Number(arenaLine[1]));
    arena.reserve(0, 'weights', Number(arenaLine[2]));
    assert.throws(() => arena.reserve(1, 'output', Number(arenaLine[3])), (e: unknown) => e instanceof ArenaOverflow && e.message === arenaLine[4]);

    // Milestone 2: the layerlock TA, loaded by OP-TEE, answered every recorded request as the
    // software TA did (the replay compares codes, messages and every byte; its verdict line).
    if (sessionsLine) {
      assert.match(text, new RegExp(`Lookup user TA ELF ${LL_TA_UUID} \\(REE\\)`));
      assert.match(text, /^LAYERLOCK_TA_SESSION PASS replies \d+ \(0 mismatches\)/m);
      assert.doesNotMatch(text, /MISMATCH/);
    }
    // Milestones 3-4 (images built with LAYERLOCK_OPTEE_NODE=1, the default): the arm64 Node runs
    // layerlock's CLI in the guest, and a tiny LeNet training and inference with the last layers in
    // OP-TEE through the optee transport equals the all-normal-world run (guest/layerlock-node.sh).
    if (existsSync(MANIFEST) && /^guest-node /m.test(readFileSync(MANIFEST, 'utf8'))) {
      assert.match(text, /^LAYERLOCK_NODE_HELP PASS$/m);
      assert.match(text, /layers \d+:\d+ in OP-TEE \(TA 6c61796c-6c6f-4b54-a000-7a6500000005 through libteec/);
      assert.match(text, /^layerlock-node: trained weights identical/m);
      assert.match(text, /^LAYERLOCK_TRANSPORT PASS/m);
      // A network that does not fit: OP-TEE's TA names the layer and buffer, in the software TA's words.
      assert.match(text, /^layerlock-node: OP-TEE refused the network that does not fit, naming layer 0's output buffer/m);
      assert.match(text, /^layerlock-node: the refusal is the software TA's, word for word/m);
      // The deployment lifecycle with the C TA's deployment commands (guest/layerlock-deploy.sh):
      // keys made in OP-TEE, install, predictions, a hostile normal world's tampered packages refused
      // by the TA itself, the export recovered on the server, a fine-tuned version sealed.
      assert.match(text, /^ {2}hostile-install: one bit of the manifest \(signed region\) flipped: refused by the TA: TEE_ERROR_SECURITY/m);
      assert.match(text, /^ {2}hostile-install: one bit of encrypted layer \d+ flipped: refused by the TA: TEE_ERROR_SECURITY .*SHA-256 mismatch/m);
      assert.match(text, /^ {2}hostile-install: the installed package again, unaltered \(a rollback\): refused by the TA: .*rollback refused/m);
      assert.match(text, /^layerlock-deploy: the export, decrypted on the server, is the packaged model byte for byte/m);
      assert.match(text, /^LAYERLOCK_DEPLOY PASS/m);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('OP-TEE on QEMU v8: the sessions in the images are what the software TA answers today', { skip: reason ?? (sessionsLine ? false : 'the images carry no recorded sessions') }, async () => {
  // The replay compares the real TA with the recording built into the initramfs; a recording made
  // from an older software TA would prove nothing about this one, so it must be the same bytes.
  const dir = mkdtempSync(join(tmpdir(), 'layerlock-optee-rec-'));
  try {
    const rec = await guestSessions(dir, Number(capacityLine?.[1] ?? 12 * 1024 * 1024));
    const text = rec.guestSession();
    assert.equal(Buffer.byteLength(text), Number(sessionsLine![1]), 'rebuild the images: build.sh all (the recording changed)');
    assert.equal(createHash('sha256').update(text).digest('hex'), sessionsLine![2], 'rebuild the images: build.sh all (the recording changed)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
