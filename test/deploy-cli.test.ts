// The deployment commands end to end, as a user runs them: keygen, device init, package, install,
// predict --device, finetune (also killed mid-save), export, import — JSON outputs, exit codes, one
// clear line on failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatHelp, type CommandHelp } from '../src/cli/common.js';

const CFG = fileURLToPath(new URL('../../cfg/vgg7-mnist.cfg', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
let dir = '';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

async function ok(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>> {
  const r = await run([...args, '--json'], env);
  assert.equal(r.code, 0, `layerlock ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Fails with exit 1 and exactly one line on stderr, matching. */
async function fails(args: string[], re: RegExp): Promise<void> {
  const r = await run(args);
  assert.equal(r.code, 1, `layerlock ${args.join(' ')} should fail: ${r.stdout}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0]!, /^layerlock: /);
  assert.match(lines[0]!, re);
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layerlock-deploy-cli-'));
});
test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('keygen → device init → package → install → predict → finetune (killed mid-save, then clean) → export → import', async () => {
  for (const cmd of ['keygen', 'device', 'package', 'install', 'finetune', 'export', 'import']) {
    const mod = (await import(`../src/cli/${cmd}.js`)) as { help: CommandHelp };
    assert.match(formatHelp(cmd, mod.help), new RegExp(`^usage: layerlock ${cmd} `), cmd);
  }
  const help = await run(['install', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--trust PUB/);
  const train = await ok(['train', '--cfg', CFG, '--epochs', '1', '--train-limit', '600', '--test-limit', '50', '--out', 'vgg7.weights']);
  assert.equal(train['epochs'], 1);

  const keys = await ok(['keygen', '--out', 'server']);
  assert.match(String(keys['key_id']), /^[0-9a-f]{32}$/);
  assert.equal((await stat(join(dir, 'server', 'server.key'))).mode & 0o777, 0o600);
  await fails(['keygen', '--out', 'server'], /already exists: refusing to overwrite/);

  const dev = await ok(['device', 'init', '--dir', 'dev', '--trust', 'server/server.pub']);
  assert.equal(dev['trusted_server_key_id'], keys['key_id'], 'the server key is sealed as the trust anchor at provisioning');
  const cert = JSON.parse(await readFile(join(dir, 'dev', 'device.cert'), 'utf8')) as { certificate: { device_id: string; attestation: string } };
  assert.equal(cert.certificate.device_id, dev['device_id']);
  assert.match(cert.certificate.attestation, /^EMULATED/);
  await fails(['device', 'init', '--dir', 'dev'], /already an initialised device/);

  const pkgArgs = ['package', '--cfg', CFG, '--weights', 'vgg7.weights', '--tee-last', '5', '--device', 'dev/device.cert', '--signing-key', 'server/server.key'];
  const pkg = await ok([...pkgArgs, '--out', 'm.pkg', '--package-version', '7']);
  assert.deepEqual(pkg['protected_layers'], [9, 11]);

  // A tampered package: refused in one line, nothing installed.
  const bytes = await readFile(join(dir, 'm.pkg'));
  bytes[bytes.length - 200]! ^= 0x01;
  await writeFile(join(dir, 'bad.pkg'), bytes);
  await fails(['install', 'bad.pkg', '--device', 'dev', '--trust', 'server/server.pub'], /encrypted layer 11 \(connected\): SHA-256 mismatch/);
  await fails(['predict', '--device', 'dev', '--index', '0'], /no model is installed/);

  const inst = await ok(['install', 'm.pkg', '--device', 'dev', '--trust', 'server/server.pub']);
  assert.equal(inst['version'], 1);
  await fails(['install', 'm.pkg', '--device', 'dev', '--trust', 'server/server.pub'], /not newer than the installed version 7: rollback refused/);

  const data = ['--test-limit', '50'];
  const plain = await ok(['predict', '--cfg', CFG, '--weights', 'vgg7.weights', '--index', '4', ...data]);
  const onDevice = await ok(['predict', '--device', 'dev', '--index', '4', ...data]);
  assert.equal((onDevice['top'] as { class: number }[])[0]!.class, (plain['top'] as { class: number }[])[0]!.class);
  assert.deepEqual(onDevice['probs'], [], 'top1: no scores');
  assert.equal((onDevice['tee'] as { model_version: number }).model_version, 1);
  await fails(['predict', '--device', 'dev', '--index', '4', '--tee-output', 'full'], /package allows output top1/);

  // Killed right after writing its files, before the pointer flip: version 1 stays current and usable.
  const ft = ['finetune', '--device', 'dev', '--epochs', '1', '--train-limit', '300', ...data];
  const killed = await run(ft, { LAYERLOCK_DEPLOY_FAULT: 'after-files' });
  assert.equal(killed.signal, 'SIGKILL');
  const after = await ok(['predict', '--device', 'dev', '--index', '4', ...data]);
  assert.equal((after['tee'] as { model_version: number }).model_version, 1);
  assert.deepEqual(after['top'], onDevice['top']);

  const tuned = await ok(ft);
  assert.equal(tuned['previous_version'], 1);
  const v = tuned['model_version'] as number;
  assert.ok(v > 1);
  const status2 = await ok(['device', 'status', '--dir', 'dev']);
  assert.equal(status2['model_version'], v);
  assert.deepEqual(status2['sealed_versions'], [v], 'the killed save\'s orphan is gone');

  const exp = await ok(['export', '--device', 'dev', '--to', 'server/server.pub', '--out', 'back.lle']);
  assert.equal(exp['model_version'], v);
  const imp = await ok(['import', 'back.lle', '--key', 'server/server.key', '--device', 'dev/device.cert', '--out', 'back.weights', '--cfg-out', 'back.cfg']);
  assert.equal(imp['model_version'], v);
  for (const i of ['7']) {
    const server = await ok(['predict', '--cfg', 'back.cfg', '--weights', 'back.weights', '--index', i, ...data]);
    const device = await ok(['predict', '--device', 'dev', '--index', i, ...data]);
    assert.equal((server['top'] as { class: number }[])[0]!.class, (device['top'] as { class: number }[])[0]!.class, `image ${i}`);
  }
  await fails(['import', 'back.lle', '--key', 'server/server.pub', '--device', 'dev/device.cert', '--out', 'x.weights'], /server PUBLIC key/);
});
