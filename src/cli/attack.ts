// layerlock attack: membership inference (and model stealing) against a partition, as an attacker
// in the device's normal world sees it (DESIGN.md §9); `layerlock attack sweep` does it for several
// partitions in one resumable run.
import { loadExposure } from '../bench/plan.js';
import { loadCfg } from '../nn/cfg.js';
import { ATTACK_NAMES, ATTACK_NEEDS, type AttackName } from '../attack/types.js';
import { attack, writeAttack, type AttackDocument } from '../attack/run.js';
import { attackSweep, type PartitionChoice, type SweepDocument } from '../attack/sweep.js';
import { openDeviceVictim, openVictim, type Victim } from '../attack/victim.js';
import { AttackRefused } from '../attack/types.js';
import { queueTarget, QueueUrlError, type QueueTarget } from '../queue/url.js';
import {
  DATA_HELP, DATA_OPTIONS, dataSelectionOf, emit, flag, formatHelp, int, log, MODEL_HELP, MODEL_OPTIONS, modelFiles, parse, parseTeeOutput, requireStr, secureMemOf, seedOf, selectData, str, teeChoice,
  UsageError, type CommandHelp, type Parsed,
} from './common.js';

export const help: CommandHelp = {
  usage: '[sweep] (--cfg F --weights W | --model F.onnx) [--data D] [--tee-last k | --tee-layers a:b] [--tee-output P] [--attacks LIST] [--members N] [--steal --queries Q] [--queue URL (sweep)] --out DIR',
  summary: 'Membership inference and model stealing against a partition, as the normal world sees it (`attack sweep`: several partitions).',
  options: [
    ['--device DEV', 'attack the model installed on a device folder (layerlock install) instead of --cfg/--weights: the protected layers exist only sealed and inside the TA'],
    ['--cfg F', 'network definition (Darknet .cfg)'],
    ['--weights W', 'the trained model (.weights); its protected layers go to the TEE before any attack runs'],
    [MODEL_HELP[0], `${MODEL_HELP[1]}; its weights are the trained model attacked`],
    ['--tee-last k | --tee-layers a:b', 'the partition (none or k = 0: nothing protected, full output — the white-box baseline); sweep: lists, e.g. --tee-last 0,1,3,5,8 --tee-layers 6:13'],
    ['--tee-output P', 'what the TEE releases: top1 (default), topk/top<k>, full'],
    ['--secure-mem SIZE', 'the TEE\'s secure memory (default 16MiB)'],
    ['--tee-storage DIR', 'the TA\'s storage folder'],
    ['--attacks LIST', `comma-separated, default all: ${ATTACK_NAMES.map((a) => `${a} (needs ${ATTACK_NEEDS[a].join(' + ')})`).join(', ')}; a named attack whose needs the partition hides is an error`],
    ['--members N', 'evaluation members from S and as many unseen test images; the attacker\'s own labelled pool has as many again (default 1000)'],
    ['--substitute-epochs E', 'epochs the attacker trains its rebuilt protected layers on T (default 5)'],
    ['--substitute-limit N', 'train the substitute on N images of T only (default all of T)'],
    ['--perturbations R', 'label-only: perturbed copies per example (default 16: translations, then noise)'],
    ['--bootstrap B', 'bootstrap replicates for the 95 % intervals (default 1000)'],
    ['--steal', 'also steal the protected part: surrogate vs black-box baseline'],
    ['--queries Q', 'top-1 queries on T for --steal (default 1000)'],
    ['--steal-epochs E', 'training epochs of the surrogate and the black box (default: --substitute-epochs)'],
    ['--attack-seed N', 'seed of the attacker\'s side only (pools, substitute, bootstrap; default --seed, which also fixes the S/T split): repeat an experiment with other pools'],
    ['--exposure DIR', 'sweep: an exposure run (DIR/exposure.json): its exposure inside the TEE is drawn on the figure'],
    ['--queue URL', 'sweep: compute the partitions on `layerlock worker`s via Redis: redis://[user:pass@]host:port[/db], rediss://, or env ($LAYERLOCK_QUEUE_URL); same files as a local sweep (docs/distributed.md)'],
    ['--out DIR', 'DIR/attack.json and DIR/roc.svg/png (sweep: DIR/sweep.json, DIR/sweep.svg/png, DIR/partitions/*)'],
    ...DATA_HELP,
  ],
};

const OPTIONS = {
  ...DATA_OPTIONS,
  ...MODEL_OPTIONS,
  cfg: { type: 'string' },
  weights: { type: 'string' },
  'tee-last': { type: 'string' },
  'tee-layers': { type: 'string' },
  'tee-output': { type: 'string' },
  'secure-mem': { type: 'string' },
  'tee-storage': { type: 'string' },
  attacks: { type: 'string' },
  members: { type: 'string' },
  'substitute-epochs': { type: 'string' },
  'substitute-limit': { type: 'string' },
  perturbations: { type: 'string' },
  bootstrap: { type: 'string' },
  steal: { type: 'boolean', default: false },
  queries: { type: 'string' },
  'steal-epochs': { type: 'string' },
  exposure: { type: 'string' },
  out: { type: 'string' },
  device: { type: 'string' },
  'attack-seed': { type: 'string' },
  queue: { type: 'string' },
} as const;

function parseAttacks(text: string | undefined): { list: AttackName[]; explicit: boolean } {
  if (text === undefined) return { list: [...ATTACK_NAMES], explicit: false };
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const a of list) {
    if (a === 'lira') throw new UsageError('--attacks lira (shadow-model likelihood ratio) is not implemented yet');
    if (!(ATTACK_NAMES as readonly string[]).includes(a)) throw new UsageError(`--attacks: unknown attack "${a}" (known: ${ATTACK_NAMES.join(', ')})`);
  }
  if (list.length === 0) throw new UsageError('--attacks is empty');
  return { list: list as AttackName[], explicit: true };
}

function fmt(x: number, d = 3): string {
  return Number.isFinite(x) ? x.toFixed(d) : '—';
}

export function formatAttack(doc: AttackDocument | Omit<AttackDocument, 'attacks'> & { attacks: Omit<AttackDocument['attacks'][number], 'roc'>[] }): string {
  const p = doc.partition;
  const head = ['attack', 'AUC [95 % CI]', 'TPR@0.1%FPR', 'TPR@1%FPR', 'advantage', 'sees'];
  const rows = doc.attacks.map((a) => [a.name, `${fmt(a.auc)} [${fmt(a.auc_ci95[0])}, ${fmt(a.auc_ci95[1])}]`, fmt(a.tpr_at_fpr['0.001'], 4), fmt(a.tpr_at_fpr['0.01'], 4), fmt(a.advantage), a.sees.join(' ')]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((s, i) => s.padEnd(w[i]!)).join('  ').trimEnd();
  const out = [
    `${p.tee_layers ? `layers ${p.tee_layers[0]}:${p.tee_layers[1]} in the TEE, output ${p.output}` : 'nothing protected: the whole model and its full output (white-box baseline)'}; ` +
    `${doc.members} members (victim accuracy ${(100 * doc.victim.members_acc).toFixed(2)} %) vs ${doc.nonmembers} non-members (${(100 * doc.victim.nonmembers_acc).toFixed(2)} %)`,
    '',
    line(head),
    ...rows.map(line),
  ];
  for (const r of doc.refused) out.push(`refused ${r.name}: ${r.reason}`);
  const s = doc.stealing;
  if (s) {
    out.push('', `stealing with ${s.queries} top-1 queries: surrogate accuracy ${(100 * s.surrogate_acc).toFixed(2)} %, agreement ${(100 * s.agreement).toFixed(2)} %; ` +
      `black box ${(100 * s.blackbox_acc).toFixed(2)} % (agreement ${(100 * s.blackbox_agreement).toFixed(2)} %); victim ${(100 * s.victim_acc).toFixed(2)} %`);
  }
  return out.join('\n');
}

function common(p: Parsed) {
  const members = int(p, 'members', 2) ?? 1000;
  const steal = flag(p, 'steal');
  if (!steal && (str(p, 'queries') !== undefined || str(p, 'steal-epochs') !== undefined)) throw new UsageError('--queries and --steal-epochs need --steal');
  return {
    members,
    // The attacker's randomness (pools, substitute, bootstrap); --seed also fixes the S/T split the victim was trained on.
    seed: int(p, 'attack-seed', 0) ?? seedOf(p),
    substitute: { epochs: int(p, 'substitute-epochs', 0) ?? 5, limit: int(p, 'substitute-limit', 1) ?? null },
    perturbations: int(p, 'perturbations', 0) ?? 16,
    bootstrap: int(p, 'bootstrap', 0) ?? 1000,
    steal: steal ? { queries: int(p, 'queries', 1) ?? 1000, ...(str(p, 'steal-epochs') !== undefined ? { epochs: int(p, 'steal-epochs', 1)! } : {}) } : null,
  };
}

/** --tee-last 0,1,3 and --tee-layers 6:13,9:13 → the sweep's partitions, in that order. */
function parsePartitions(p: Parsed, layers: number): PartitionChoice[] {
  const out: PartitionChoice[] = [];
  for (const k of (str(p, 'tee-last') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (!/^\d+$/.test(k) || Number(k) > layers) throw new UsageError(`--tee-last: "${k}" is not a layer count in 0..${layers}`);
    out.push({ kind: 'last', k: Number(k) });
  }
  for (const r of (str(p, 'tee-layers') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^(\d+):(\d*)$/.exec(r);
    const a = m ? Number(m[1]) : NaN;
    const b = m ? (m[2] === '' ? layers - 1 : Number(m[2])) : NaN;
    if (!(a <= b && b < layers)) throw new UsageError(`--tee-layers: "${r}" is not a range a:b within 0:${layers - 1}`);
    out.push({ kind: 'range', start: a, end: b });
  }
  if (out.length === 0) throw new UsageError('attack sweep needs partitions: --tee-last 0,1,3,… and/or --tee-layers a:b,…');
  return out;
}

export async function run(argv: string[]): Promise<void> {
  const sweep = argv[0] === 'sweep';
  const p = parse(sweep ? argv.slice(1) : argv, OPTIONS);
  if (flag(p, 'help')) return void process.stdout.write(formatHelp(sweep ? 'attack sweep' : 'attack', help));
  const device = str(p, 'device');
  if (device !== undefined && (sweep || str(p, 'cfg') !== undefined || str(p, 'weights') !== undefined || str(p, 'model') !== undefined || str(p, 'tee-last') !== undefined || str(p, 'tee-layers') !== undefined)) {
    throw new UsageError('--device attacks the installed model and its partition: no --cfg, --weights, --model, --tee-last/--tee-layers, and not with sweep');
  }
  const out = requireStr(p, 'out');
  const queueUrl = str(p, 'queue');
  if (queueUrl !== undefined && !sweep) throw new UsageError('--queue distributes the partitions of `attack sweep`; a single attack runs here');
  let target: QueueTarget | undefined;
  try {
    target = queueUrl === undefined ? undefined : queueTarget(queueUrl);
  } catch (e) {
    if (e instanceof QueueUrlError) throw new UsageError(e.message);
    throw e;
  }
  const attacks = parseAttacks(str(p, 'attacks'));
  const opts = common(p);
  let deviceVictim: Victim | null = null;
  if (device !== undefined) {
    const tee = str(p, 'tee-output');
    deviceVictim = await openDeviceVictim(device, { seed: seedOf(p), ...(tee !== undefined ? parseTeeOutput(tee) : {}) });
  }
  // --model is imported (once, cached) into the same .cfg + .weights pair --cfg/--weights name.
  const files = deviceVictim ? null : await modelFiles(p, 'required');
  const cfg = files ? files.cfg : device!;
  const weights = files ? files.weights : '';
  const config = deviceVictim ? deviceVictim.oracle.config : await loadCfg(cfg);
  let data;
  try {
    data = await selectData(p, { inShape: { c: config.net.channels, h: config.net.height, w: config.net.width } });
  } catch (e) {
    await deviceVictim?.close();
    throw e;
  }
  const runLog = (m: string): void => log(`layerlock attack: ${m}`);
  if (sweep) {
    const partitions = parsePartitions(p, config.layers.length);
    const { policy, topk } = parseTeeOutput(str(p, 'tee-output'));
    const ex = str(p, 'exposure');
    const doc: SweepDocument = await attackSweep({
      ...opts, cfg, config, weights, partitions, policy, topk, out, data, victimSeed: seedOf(p),
      attacks: attacks.list,
      secureMem: secureMemOf(p),
      ...(str(p, 'tee-storage') !== undefined ? { storageDir: str(p, 'tee-storage')! } : {}),
      exposure: ex !== undefined ? await loadExposure(ex, config) : null,
      log: runLog,
      onResume: (name) => runLog(`partition ${name}: already done (${out}/partitions/${name}/attack.json), skipped`),
      ...(target ? { queue: { target, log, selection: dataSelectionOf(p) } } : {}),
    });
    emit(p, doc, () => doc.partitions.map((r) => `== ${r.label} ==\n${formatAttack(r)}`).join('\n\n') + `\n\nwrote ${out}/sweep.json, ${out}/sweep.svg, ${out}/sweep.png`);
    return;
  }
  const choice = teeChoice(p, config.layers.length);
  const victim = deviceVictim ?? await openVictim({
    cfg, weights, seed: seedOf(p), range: choice.range, policy: choice.policy, topk: choice.topk, secureMem: choice.secureMem,
    ...(choice.storageDir !== undefined ? { storageDir: choice.storageDir } : {}),
  });
  let doc: AttackDocument;
  try {
    const h = victim.oracle.hidden;
    if (victim.taPid !== null && h) runLog(`layers ${h[0]}:${h[1]} in the TEE (TA pid ${victim.taPid}), output ${victim.oracle.output}; the attacker holds only the normal-world layers and the TEE's answers`);
    doc = await attack({ ...opts, oracle: victim.oracle, data, attacks: attacks.list, strict: attacks.explicit, log: runLog });
  } catch (e) {
    if (e instanceof AttackRefused) throw new Error(`refused: ${e.message}`);
    throw e;
  } finally {
    await victim.close();
  }
  await writeAttack(out, doc);
  emit(p, doc, () => `${formatAttack(doc)}\n\nwrote ${out}/attack.json, ${out}/roc.svg, ${out}/roc.png`);
}
