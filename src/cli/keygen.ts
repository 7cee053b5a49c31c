// layerlock keygen: the server's keys — Ed25519 to sign packages, X25519 to receive exports (HPKE).
import { generateServerKeys } from '../deploy/keys.js';
import { emit, flag, formatHelp, parse, requireStr, type CommandHelp } from './common.js';

export const help: CommandHelp = {
  usage: '--out DIR',
  summary: 'Make the server\'s keys: DIR/server.key (private, mode 0600) and DIR/server.pub (give it to devices).',
  options: [['--out DIR', 'folder for server.key and server.pub (created; existing keys are never overwritten)']],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, { out: { type: 'string' } });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('keygen', help));
  const r = await generateServerKeys(requireStr(p, 'out'));
  emit(p, { key: r.keyPath, pub: r.pubPath, key_id: r.keyId }, () =>
    `server key ${r.keyId}\n  private: ${r.keyPath} (mode 0600: keep it on the server)\n  public:  ${r.pubPath} (devices trust it: layerlock install … --trust ${r.pubPath})`);
}
