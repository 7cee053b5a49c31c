// layerlock package (server side): normal-world layers in the clear, protected layers encrypted
// with HPKE to the device TA's key, a manifest of hashes, and an Ed25519 signature over all of it.
import { checkOutputFile } from './checks.js';
import { loadCfg } from '../nn/cfg.js';
import { createPackage } from '../deploy/package.js';
import { rangeRoles, PartitionError } from '../tee/roles.js';
import { emit, flag, formatHelp, int, parse, parseTeeOutput, requireStr, str, teeChoice, UsageError, type CommandHelp } from './common.js';

export const help: CommandHelp = {
  usage: '--cfg F --weights W (--tee-last k | --tee-layers a:b) --device DEV/device.cert --signing-key DIR/server.key --out PKG',
  summary: 'Package a trained model for one device: protected layers encrypted to its TA (HPKE), everything signed.',
  options: [
    ['--cfg F', 'network definition (Darknet .cfg)'],
    ['--weights W', 'trained Darknet .weights of the whole network'],
    ['--tee-last k', 'protect the last k layers (counting every layer, as the paper does)'],
    ['--tee-layers a:b', 'protect cfg layers a..b (0-based, inclusive)'],
    ['--device CERT', 'the device certificate (DEV/device.cert from layerlock device init)'],
    ['--signing-key KEY', 'the server\'s private key (server.key from layerlock keygen)'],
    ['--out PKG', 'the package file to write'],
    ['--tee-output P', 'what may leave the TEE on the device: top1 (default), topk/top<k>, full; the device can only be stricter'],
    ['--package-version N', 'version number (default: now, in Unix seconds); a device installs only newer versions'],
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, {
    cfg: { type: 'string' }, weights: { type: 'string' }, 'tee-last': { type: 'string' }, 'tee-layers': { type: 'string' }, device: { type: 'string' },
    'signing-key': { type: 'string' }, out: { type: 'string' }, 'tee-output': { type: 'string' }, 'package-version': { type: 'string' },
  });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('package', help));
  const cfg = requireStr(p, 'cfg');
  const weights = requireStr(p, 'weights');
  const device = requireStr(p, 'device');
  const signingKey = requireStr(p, 'signing-key');
  const out = requireStr(p, 'out');
  await checkOutputFile(out, '--out');
  const config = await loadCfg(cfg);
  if (str(p, 'tee-last') === undefined && str(p, 'tee-layers') === undefined) throw new UsageError('give --tee-last k or --tee-layers a:b: which layers to protect');
  const choice = teeChoice(p, config.layers.length);
  if (!choice.range) throw new UsageError('--tee-last 0 protects nothing: a package needs at least one layer in the TEE');
  try {
    rangeRoles(config, choice.range[0], choice.range[1]);
  } catch (e) {
    if (e instanceof PartitionError) throw new UsageError(e.message);
    throw e;
  }
  const { policy, topk } = parseTeeOutput(str(p, 'tee-output'));
  const version = int(p, 'package-version', 1);
  const r = await createPackage({ cfg, weights, range: choice.range, deviceCert: device, signingKey, out, policy, topk, ...(version !== undefined ? { packageVersion: version } : {}) });
  emit(p, r, () => [
    `package ${r.package_id} version ${r.version} → ${r.path} (${r.bytes} bytes)`,
    `  for device ${r.device_id}, signed by server key ${r.server_key_id}`,
    `  layers ${r.partition.start}:${r.partition.end} protected (HPKE to the device TA): trainable ${r.protected_layers.join(', ') || 'none'}; in the clear: ${r.clear_layers.join(', ') || 'none'}`,
    `  output policy on the device: ${r.partition.policy === 'topk' ? `top${r.partition.topk}` : r.partition.policy}`,
  ].join('\n'));
}
