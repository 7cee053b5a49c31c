// layerlock device: provisioning of a device folder (init), its state (status), its certificate
// (cert). Also the helpers the device-side commands share: TA options from the command line, the
// crash hook of the tests, and opening the installed model for predict and finetune.
import { getKernels } from '../kernels/index.js';
import { deviceStatus, exportDeviceCert, initDevice, openInstalled, trustServer, type DeviceOptions, type FaultPoint, type InstalledModel } from '../deploy/device.js';
import { atomicWrite } from '../util/fsutil.js';
import type { Stepper } from '../nn/train.js';
import type { Shape } from '../nn/layer.js';
import { taKernelChoice } from '../tee/options.js';
import { emit, flag, formatHelp, int, log, parse, parseTeeOutput, partitionReport, requireStr, secureMemOf, str, teeKindOf, UsageError, type CommandHelp, type Parsed } from './common.js';

export const help: CommandHelp = {
  usage: '(init | trust | status | cert) --dir DEV [--trust server.pub] [--out F]',
  summary: 'Provision a device: its TA makes its keys inside the (software) TEE and exports DEV/device.cert.',
  options: [
    ['init --dir DEV [--trust PUB]', 'new device: keys made and sealed inside the TA, certificate written to DEV/device.cert; with --trust, the server key PUB (server.pub) is sealed as its trust anchor too'],
    ['trust --dir DEV --trust PUB', 'provision the trust anchor: only packages signed by PUB\'s key install (no trust on first use); another key later needs a package signed by this one (package --rotate-trust)'],
    ['status --dir DEV', 'the TA\'s view: device id, committed model version, package version, trusted server key'],
    ['cert --dir DEV [--out F]', 'the certificate again, from the TA (to F, or stdout)'],
    ['--secure-mem SIZE', 'the TEE\'s secure memory (default 16MiB)'],
    ['--tee software|optee', 'the software TEE (default; its storage is DEV/tee) or OP-TEE through libteec (the TA keeps its keys in OP-TEE\'s secure storage: docs/optee.md)'],
  ],
};

/** TA options shared by the device commands: which TEE, secure memory, kernels like the normal world's, the crash hook. */
export function deviceOptions(p: Parsed): DeviceOptions {
  const fault = process.env['LAYERLOCK_DEPLOY_FAULT'] as FaultPoint | undefined;
  return {
    tee: { secureMem: secureMemOf(p), kernels: taKernelChoice(), tee: teeKindOf(p) },
    // Test hook: die at a save step, exactly as a kill -9 would (the atomicity tests use it).
    ...(fault ? { fault: (point: FaultPoint) => { if (point === fault) process.kill(process.pid, 'SIGKILL'); } } : {}),
  };
}

/** What predict and finetune need of an installed model (the shape of common.ts's OpenedModel). */
export interface DeviceModel {
  installed: InstalledModel;
  stepper: Stepper;
  inShape: Shape;
  batch: number;
  kernels: string;
  teeReport(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export const DEVICE_MODEL_OPTIONS = {
  device: { type: 'string' },
  'secure-mem': { type: 'string' },
  tee: { type: 'string' },
  'tee-output': { type: 'string' },
  batch: { type: 'string' },
  subdivisions: { type: 'string' },
} as const;

/** Opens DEV's installed model (partition and policy from its package; --tee-output may only be stricter). */
export async function openDeviceModel(p: Parsed, dev: string, mode: 'train' | 'infer', batch?: number): Promise<DeviceModel> {
  for (const o of ['cfg', 'weights', 'tee-layers', 'tee-last', 'tee-storage']) {
    if (str(p, o) !== undefined) throw new UsageError(`--${o} does not go with --device: the installed package decides the network, its weights and the partition`);
  }
  if (flag(p, 'tee-export-plaintext')) throw new UsageError('--tee-export-plaintext does not go with --device: a deployed model never leaves the TEE in plaintext');
  const out = str(p, 'tee-output') !== undefined ? parseTeeOutput(str(p, 'tee-output')) : undefined;
  const kernels = getKernels();
  const b = batch ?? int(p, 'batch', 1);
  const installed = await openInstalled(dev, {
    ...deviceOptions(p), mode, ...(out ? { policy: out.policy, topk: out.topk } : {}),
    ...(b !== undefined ? { batch: b } : {}), ...(batch === undefined && int(p, 'subdivisions', 1) !== undefined ? { subdivisions: int(p, 'subdivisions', 1)! } : {}),
    ...(str(p, 'seed') !== undefined ? { seed: int(p, 'seed')! } : {}),
  });
  const net = installed.net;
  const hello = net.context.hello;
  log(`layerlock: model version ${installed.pointer.version} of ${dev} (package ${installed.pointer.package_version}), layers ${net.range[0]}:${net.range[1]} unsealed in the TEE (${net.context.tee === 'optee' ? 'OP-TEE' : `TA pid ${hello.pid}`}, ${hello.kernels}), output policy ${net.policy}`);
  return {
    installed, stepper: net, inShape: net.inShape, batch: net.batch, kernels: kernels.name,
    teeReport: async () => ({
      device: dev,
      model_version: installed.pointer.version,
      package_id: installed.pointer.package_id,
      package_version: installed.pointer.package_version,
      ...(await partitionReport(net)),
    }),
    close: () => installed.close(),
  };
}

export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const p = parse(rest, { dir: { type: 'string' }, out: { type: 'string' }, 'secure-mem': { type: 'string' }, trust: { type: 'string' }, tee: { type: 'string' } });
  if (sub === undefined || sub === '--help' || sub === '-h' || flag(p, 'help')) return void process.stdout.write(formatHelp('device', help));
  const dir = requireStr(p, 'dir');
  switch (sub) {
    case 'init': {
      const trust = str(p, 'trust');
      const r = await initDevice(dir, { ...deviceOptions(p), ...(trust !== undefined ? { trust } : {}) });
      emit(p, r, () => `device ${r.device_id} initialised in ${dir}\n  keys made and sealed inside the TA (${r.ta_uuid})\n  certificate: ${r.cert} (give it to the server: layerlock package … --device ${r.cert})\n  ` +
        (r.trusted_server_key_id ? `trust anchor: server key ${r.trusted_server_key_id}` : 'no trust anchor yet: nothing installs until `layerlock device trust --dir DEV --trust server.pub`'));
      return;
    }
    case 'trust': {
      const r = await trustServer(dir, requireStr(p, 'trust'), deviceOptions(p));
      emit(p, r, () => `device ${dir} trusts server key ${r.server_key_id} (sealed in its TA)`);
      return;
    }
    case 'status': {
      const { status, pointer } = await deviceStatus(dir, deviceOptions(p));
      emit(p, { ...status, installed: pointer }, () => [
        `device ${status.device_id}`,
        status.model_version === 0 ? '  no model installed' : `  model version ${status.model_version} (package ${status.package_id}, version ${status.package_version}), layers ${pointer?.range.join(':') ?? '?'} in the TEE, output ${pointer?.policy ?? '?'}`,
        `  trusted server key: ${status.server_key_id ?? 'none yet (provision it: layerlock device trust --dir DEV --trust server.pub)'}`,
        `  sealed versions in storage: ${status.sealed_versions.join(', ') || 'none'}`,
      ].join('\n'));
      return;
    }
    case 'cert': {
      const cert = await exportDeviceCert(dir, deviceOptions(p));
      const text = JSON.stringify(cert, null, 2) + '\n';
      const out = str(p, 'out');
      if (out) await atomicWrite(out, text);
      if (flag(p, 'json') || !out) process.stdout.write(flag(p, 'json') ? JSON.stringify(cert) + '\n' : text);
      return;
    }
    default:
      throw new UsageError(`unknown device command "${sub}" (init, trust, status, cert)`);
  }
}
