// layerlock import (server side): verify a device's export and decrypt it with the server key into
// a whole-network Darknet .weights file.
import { importExport } from '../deploy/import.js';
import { emit, flag, formatHelp, parse, requireStr, str, UsageError, type CommandHelp } from './common.js';
import { checkOutputFile } from './checks.js';

export const help: CommandHelp = {
  usage: 'FILE --key DIR/server.key --device DEV/device.cert --out W [--cfg-out F]',
  summary: 'Recover the whole model (.weights) from a device\'s export on the server.',
  options: [
    ['FILE', 'the export file (from layerlock export)'],
    ['--key KEY', 'the server\'s private key (server.key)'],
    ['--device CERT', 'the certificate of the device that made the export'],
    ['--out W', 'the .weights file to write'],
    ['--cfg-out F', 'also write the model\'s cfg here'],
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, { key: { type: 'string' }, device: { type: 'string' }, out: { type: 'string' }, 'cfg-out': { type: 'string' } }, true);
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('import', help));
  if (p.positionals.length !== 1) throw new UsageError(`give one export file (got ${p.positionals.length})`);
  const [key, deviceCert, out] = [requireStr(p, 'key'), requireStr(p, 'device'), requireStr(p, 'out')];
  await checkOutputFile(out, '--out');
  const cfgOut = str(p, 'cfg-out');
  if (cfgOut) await checkOutputFile(cfgOut, '--cfg-out');
  const r = await importExport({ file: p.positionals[0]!, key, deviceCert, out, ...(cfgOut ? { cfgOut } : {}) });
  emit(p, r, () => `imported model version ${r.model_version} of device ${r.device_id} (package ${r.package_id}) → ${r.weights}${r.cfg ? ` and ${r.cfg}` : ''}`);
}
