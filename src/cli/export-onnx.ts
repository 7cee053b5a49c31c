// layerlock export-onnx: a model as ONNX for ONNX Runtime — the whole network, or with --ree-only the
// normal-world part of a partition, whose output is exactly the activation the TA expects.
import { atomicWrite } from '../util/fsutil.js';
import { loadModel } from '../nn/model.js';
import { exportOnnx } from '../onnx/export.js';
import { loadCfg } from '../nn/cfg.js';
import {
  emit, flag, formatHelp, MODEL_HELP, MODEL_OPTIONS, modelFiles, parse, requireStr, seedOf, str, teeChoice, UsageError, type CommandHelp,
} from './common.js';

export const help: CommandHelp = {
  usage: '(--cfg F --weights W | --model F.onnx) --out M.onnx [--ree-only (--tee-last k | --tee-layers a:b)]',
  summary: 'Export a model to ONNX (opset 13), whole or only its normal-world part (--ree-only).',
  options: [
    ['--cfg F', 'network definition (Darknet .cfg)'],
    ['--weights W', 'trained Darknet .weights'],
    MODEL_HELP,
    ['--out M.onnx', 'the ONNX file to write'],
    ['--ree-only', 'export only the layers before the TEE range: the normal-world part a device app runs'],
    ['--tee-last k', 'the partition: the last k layers are in the TEE'],
    ['--tee-layers a:b', 'the partition: cfg layers a..b are in the TEE'],
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, {
    ...MODEL_OPTIONS, cfg: { type: 'string' }, weights: { type: 'string' }, out: { type: 'string' },
    'ree-only': { type: 'boolean', default: false }, 'tee-last': { type: 'string' }, 'tee-layers': { type: 'string' },
  });
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('export-onnx', help));
  const files = await modelFiles(p, 'required');
  const out = requireStr(p, 'out');
  const config = await loadCfg(files.cfg);
  const choice = teeChoice(p, config.layers.length);
  let upTo: number | undefined;
  if (flag(p, 'ree-only')) {
    if (!choice.range) throw new UsageError('--ree-only needs the partition: --tee-last k (k ≥ 1) or --tee-layers a:b');
    if (choice.range[0] === 0) throw new UsageError(`the TEE range ${choice.range[0]}:${choice.range[1]} starts at layer 0: there is no normal-world part to export`);
    upTo = choice.range[0] - 1;
  } else if (str(p, 'tee-last') !== undefined || str(p, 'tee-layers') !== undefined) {
    throw new UsageError('--tee-last/--tee-layers only choose the part --ree-only exports; without --ree-only the whole model is exported');
  }
  const net = await loadModel({ cfg: config, weights: files.weights, seed: seedOf(p), batch: 1 });
  const r = exportOnnx(net, { ...(upTo !== undefined ? { upTo } : {}) });
  await atomicWrite(out, r.bytes);
  emit(p, {
    out, opset: 13, layers: r.layers, input_shape: r.inputShape, output_shape: r.outputShape, nodes: r.nodes, bytes: r.bytes.length,
    ...(choice.range ? { tee_layers: choice.range } : {}),
  }, () => `layers ${r.layers[0]}:${r.layers[1]} → ${out} (${r.nodes} nodes, ${r.bytes.length} bytes), input N×${r.inputShape.join('×')}, output N×${r.outputShape.join('×')}`);
}
