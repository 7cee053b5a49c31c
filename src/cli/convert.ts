// layerlock convert: an ONNX model → Darknet .cfg + .weights, for those who want the files (every
// command also takes --model F.onnx directly). What the import changes (folded batch norm, an
// appended softmax) is written into the cfg as comments and printed as notes.
import { loadOnnxFile, writeImportedFiles } from '../onnx/model.js';
import { emit, flag, formatHelp, log, parse, requireStr, UsageError, type CommandHelp } from './common.js';

export const help: CommandHelp = {
  usage: 'MODEL.onnx --out-cfg F.cfg --out-weights F.weights',
  summary: 'Convert an ONNX model (sequential CNN, opsets 11–18) into a Darknet .cfg and .weights.',
  options: [
    ['MODEL.onnx', 'the ONNX model (weights inside; see docs/onnx.md for the supported operators)'],
    ['--out-cfg F', 'the Darknet network definition to write'],
    ['--out-weights W', 'the Darknet .weights to write'],
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, { 'out-cfg': { type: 'string' }, 'out-weights': { type: 'string' } }, true);
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('convert', help));
  if (p.positionals.length !== 1) throw new UsageError(`give one ONNX model (got ${p.positionals.length})`);
  const src = p.positionals[0]!;
  const cfg = requireStr(p, 'out-cfg');
  const weights = requireStr(p, 'out-weights');
  const m = await loadOnnxFile(src);
  await writeImportedFiles(m, src, cfg, weights);
  for (const n of m.notes) log(`layerlock: note: ${n}`);
  const trainable = m.weights.length;
  const params = m.weights.reduce((s, w) => s + w.weights.length + w.biases.length, 0);
  emit(p, {
    model: src, opset: m.opset, producer: m.producer, cfg, weights,
    layers: m.config.layers.map((l, i) => ({ index: i, type: l.type })),
    trainable_layers: trainable, params, notes: m.notes,
  }, () => `${src} (opset ${m.opset}) → ${cfg}, ${weights}: ${m.config.layers.length} layers, ${trainable} trainable, ${params} parameters`);
}
