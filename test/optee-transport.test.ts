// The `optee` transport (issue 17, milestone 3) where there is no OP-TEE: x86 CI, a laptop. `--tee
// optee` must fail at once with one clear line (not a stack, not a hang, not a silent fallback to the
// software TEE), and the option is validated like the other partition options. The transport itself
// runs in the emulated board (scripts/optee-qemu, log scripts/optee-qemu/logs/layerlock-transport.log);
// on a machine that has /dev/tee0 the off-target checks are skipped, loudly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PartitionedNetwork } from '../src/tee/partitioned.js';
import { openTeeContext, OPTEE_DEVICE, requestedTee } from '../src/tee/optee.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const CFG = fileURLToPath(new URL('../../cfg/lenet-mnist.cfg', import.meta.url));
const onTarget = existsSync(OPTEE_DEVICE);
const skip = onTarget ? `SKIPPED: ${OPTEE_DEVICE} exists here, so --tee optee would not fail (the guest's own run checks the transport)` : false;
if (onTarget) console.error(`optee-transport.test: ${skip}`);

function cli(args: string[]): { status: number | null; stderr: string; stdout: string } {
  const dir = mkdtempSync(join(tmpdir(), 'll-optee-'));
  try {
    const r = spawnSync(process.execPath, [MAIN, ...args.map((a) => a.replace('OUT', join(dir, 'w.weights')))], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LAYERLOCK_TEE: '' } });
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('--tee optee off-target: train fails with one line naming /dev/tee0', { skip }, () => {
  const r = cli(['train', '--cfg', CFG, '--epochs', '1', '--train-limit', '8', '--batch', '4', '--tee-last', '3', '--tee', 'optee', '--out', 'OUT']);
  assert.equal(r.status, 1);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^layerlock: --tee optee: no OP-TEE on this machine \(\/dev\/tee0 is missing\)/);
  assert.equal(r.stdout, '');
});

test('--tee optee off-target: eval fails the same way', { skip }, () => {
  const r = cli(['eval', '--cfg', CFG, '--weights', CFG, '--tee-last', '2', '--tee', 'optee']);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /--tee optee: no OP-TEE on this machine/);
});

test('--tee is validated and needs a range', () => {
  let r = cli(['train', '--cfg', CFG, '--epochs', '1', '--tee-last', '3', '--tee', 'sgx', '--out', 'OUT']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^layerlock: --tee must be software or optee \(got "sgx"\)/);
  r = cli(['train', '--cfg', CFG, '--epochs', '1', '--tee', 'optee', '--out', 'OUT']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--tee needs --tee-layers a:b or --tee-last k/);
});

test('the library: openTeeContext and PartitionedNetwork.open refuse optee off-target; software stays the default', { skip }, async () => {
  assert.equal(requestedTee({}), process.env['LAYERLOCK_TEE'] || 'software');
  await assert.rejects(openTeeContext({ tee: 'optee' }), /no OP-TEE on this machine/);
  assert.throws(() => requestedTee({ tee: 'tdx' as 'optee' }), RangeError);
  await assert.rejects(PartitionedNetwork.open({
    cfg: { text: '[net]\nbatch=1\nheight=2\nwidth=2\nchannels=1\n[connected]\noutput=2\nactivation=linear\n[softmax]\n', file: 'tiny.cfg' },
    range: [1, 1], mode: 'infer', contextOptions: { tee: 'optee' },
  }), /no OP-TEE on this machine/);
});

test('bench tee --tee optee: one line off-target, writes no results; its secure memory is the TA\'s, not --secure-mem', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'll-optee-bench-'));
  try {
    const out = join(dir, 'bench');
    let r = cli(['bench', 'tee', '--cfg', CFG, '--out', out, '--tee', 'optee', '--reps', '2', '--batches', '1', '--batch', '4']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^layerlock: --tee optee: no OP-TEE on this machine \(\/dev\/tee0 is missing\)/);
    assert.ok(!existsSync(join(out, 'bench.json')) && !existsSync(join(out, 'runs.jsonl')), 'no results written');
    r = cli(['bench', 'tee', '--cfg', CFG, '--out', out, '--tee', 'optee', '--secure-mem', '8MiB']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--secure-mem cannot change OP-TEE's secure memory: it is the TA's arena/);
    r = cli(['bench', 'tee', '--cfg', CFG, '--out', out, '--tee', 'optee', '--tee-transport', 'pipe']);
    assert.match(r.stderr, /--tee-transport is the software TEE's/);
    r = cli(['bench', 'tee', '--cfg', CFG, '--out', out, '--tee', 'sev']);
    assert.match(r.stderr, /--tee must be software or optee \(got "sev"\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('device commands take --tee optee: one line off-target, nothing written to DEV; --secure-mem refused with it', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'll-optee-dev-'));
  try {
    const dev = join(dir, 'dev');
    let r = cli(['device', 'init', '--dir', dev, '--tee', 'optee']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--tee optee: no OP-TEE on this machine \(\/dev\/tee0 is missing\)/);
    assert.ok(!existsSync(join(dev, 'device.cert')), 'no certificate written');
    r = cli(['device', 'status', '--dir', dev, '--tee', 'optee']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /is not an initialised device \(no .*device\.cert; run layerlock device init --dir .* --tee optee\)/);
    r = cli(['device', 'init', '--dir', dev, '--tee', 'optee', '--secure-mem', '8MiB']);
    assert.match(r.stderr, /--secure-mem cannot change OP-TEE's secure memory/);
    r = cli(['install', CFG, '--device', dev, '--trust', CFG, '--tee', 'tdx']);
    assert.match(r.stderr, /--tee must be software or optee \(got "tdx"\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('train --tee optee --secure-mem is refused (the TA\'s arena is fixed), not silently ignored', () => {
  const r = cli(['train', '--cfg', CFG, '--epochs', '1', '--tee-last', '3', '--tee', 'optee', '--secure-mem', '8MiB', '--out', 'OUT']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^layerlock: --secure-mem cannot change OP-TEE's secure memory: it is the TA's arena/);
});
