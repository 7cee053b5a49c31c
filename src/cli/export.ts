// layerlock export (device side, when the user allows it): the TA re-encrypts the protected layers
// to the server the package came from (HPKE) and signs the export with the device's identity key.
import { exportModel } from '../deploy/device.js';
import { deviceOptions } from './device.js';
import { emit, flag, formatHelp, parse, requireStr, type CommandHelp } from './common.js';
import { checkOutputFile } from './checks.js';

export const help: CommandHelp = {
  usage: '--device DEV --to DIR/server.pub --out FILE',
  summary: 'Send the (fine-tuned) model back to its server: protected layers re-encrypted inside the TEE to the server key.',
  options: [
    ['--device DEV', 'the device folder'],
    ['--to PUB', 'the server public key (must be the server that signed the installed package)'],
    ['--out FILE', 'the export file to write (never overwritten)'],
    ['--tee software|optee', 'the TEE the device was initialised with (default software; optee: OP-TEE through libteec)'],
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, { device: { type: 'string' }, to: { type: 'string' }, out: { type: 'string' }, 'secure-mem': { type: 'string' }, tee: { type: 'string' } });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('export', help));
  const [device, to, out] = [requireStr(p, 'device'), requireStr(p, 'to'), requireStr(p, 'out')];
  await checkOutputFile(out, '--out');
  const r = await exportModel(device, to, out, deviceOptions(p));
  emit(p, r, () => `exported model version ${r.model_version} of device ${r.device_id} → ${r.path} (${r.bytes} bytes), protected layers encrypted to server key ${r.server_key_id}`);
}
