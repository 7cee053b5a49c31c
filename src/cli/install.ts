// layerlock install (device side): verify the package's signature and every hash, then the TA
// verifies again, decrypts inside and seals the protected layers; the new version becomes current
// atomically. Nothing installed changes if anything fails.
import { installPackage } from '../deploy/device.js';
import { deviceOptions } from './device.js';
import { emit, flag, formatHelp, parse, requireStr, UsageError, type CommandHelp } from './common.js';

export const help: CommandHelp = {
  usage: 'PKG --device DEV --trust DIR/server.pub',
  summary: 'Install a package on a device: verified first, protected layers decrypted and sealed only inside the TEE.',
  options: [
    ['PKG', 'the package file (from layerlock package)'],
    ['--device DEV', 'the device folder (from layerlock device init)'],
    ['--trust PUB', 'the server public key the package must be signed with (server.pub)'],
    ['--secure-mem SIZE', 'the TEE\'s secure memory (default 16MiB)'],
    ['--tee software|optee', 'the TEE the device was initialised with (default software; optee: OP-TEE through libteec)'],
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, { device: { type: 'string' }, trust: { type: 'string' }, 'secure-mem': { type: 'string' }, tee: { type: 'string' } }, true);
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('install', help));
  if (p.positionals.length !== 1) throw new UsageError(`give one package file (got ${p.positionals.length})`);
  const dev = requireStr(p, 'device');
  const r = await installPackage(p.positionals[0]!, dev, requireStr(p, 'trust'), deviceOptions(p));
  emit(p, r, () => [
    `installed package ${r.package_id} version ${r.package_version} on device ${r.device_id} as model version ${r.version}`,
    `  layers ${r.partition.start}:${r.partition.end} sealed in the TEE, output policy ${r.partition.policy === 'topk' ? `top${r.partition.topk}` : r.partition.policy}`,
    ...(r.replaced ? [`  replaced model version ${r.replaced.version} (package version ${r.replaced.package_version})`] : []),
  ].join('\n'));
}
