// NetworkConfig → Darknet .cfg text, the inverse of parseCfg (parseCfg(formatCfg(c)) describes the
// same network). Used to hand imported ONNX models over as Darknet files. Keys are written
// explicitly (padding=N rather than pad=1) so nothing depends on a reader's defaults; the few
// layerlock extensions (leaky_slope, ceil_mode, count_include_pad, [local_avgpool]) appear only when
// a model needs them.
import type { LayerConfig, NetOptions, NetworkConfig } from './config.js';

function netSection(n: NetOptions): string[] {
  const lines = [
    '[net]',
    `batch=${n.batch}`,
    `subdivisions=${n.subdivisions}`,
    `height=${n.height}`,
    `width=${n.width}`,
    `channels=${n.channels}`,
    `learning_rate=${n.learningRate}`,
    `momentum=${n.momentum}`,
    `decay=${n.decay}`,
    `max_batches=${n.maxBatches}`,
  ];
  if (n.burnIn > 0) lines.push(`burn_in=${n.burnIn}`, `power=${n.power}`);
  switch (n.policy) {
    case 'constant':
      lines.push('policy=constant');
      break;
    case 'steps':
      lines.push('policy=steps', `steps=${n.steps.join(',')}`, `scales=${n.scales.join(',')}`);
      break;
    case 'step':
      lines.push('policy=step', `step=${n.step}`, `scale=${n.scale}`);
      break;
    case 'poly':
      lines.push('policy=poly', `power=${n.power}`);
      break;
    case 'exp':
      lines.push('policy=exp', `gamma=${n.gamma}`);
      break;
    case 'sig':
      lines.push('policy=sigmoid', `step=${n.step}`, `gamma=${n.gamma}`);
      break;
  }
  // power is written once: burn-in and poly share it.
  return lines.filter((l, i) => !(l.startsWith('power=') && lines.indexOf(l) !== i));
}

function layerSection(l: LayerConfig): string[] {
  switch (l.type) {
    case 'convolutional':
      return [
        '[convolutional]', `filters=${l.filters}`, `size=${l.size}`, `stride=${l.stride}`, `padding=${l.padding}`,
        ...(l.batchNormalize ? ['batch_normalize=1'] : []),
        `activation=${l.activation}`, ...(l.slope !== undefined ? [`leaky_slope=${l.slope}`] : []),
      ];
    case 'connected':
      return [
        '[connected]', `output=${l.output}`, ...(l.batchNormalize ? ['batch_normalize=1'] : []),
        `activation=${l.activation}`, ...(l.slope !== undefined ? [`leaky_slope=${l.slope}`] : []),
      ];
    case 'maxpool':
    case 'local_avgpool':
      return [
        `[${l.type}]`, `size=${l.size}`, `stride=${l.stride}`, `padding=${l.padding}`,
        ...(l.ceilMode ? ['ceil_mode=1'] : []),
        ...(l.type === 'local_avgpool' && l.countIncludePad ? ['count_include_pad=1'] : []),
      ];
    case 'avgpool':
      return ['[avgpool]'];
    case 'dropout':
      return ['[dropout]', `probability=${l.probability}`];
    case 'softmax':
      return ['[softmax]'];
    case 'cost':
      return ['[cost]', `type=${l.costType}`, ...(l.scale !== 1 ? [`scale=${l.scale}`] : [])];
  }
}

/** The .cfg text of a config; `comments` become leading # lines (e.g. where the model came from). */
export function formatCfg(config: NetworkConfig, comments: readonly string[] = []): string {
  const parts = [
    ...comments.map((c) => `# ${c}`),
    ...(comments.length ? [''] : []),
    ...netSection(config.net),
  ];
  for (const l of config.layers) parts.push('', ...layerSection(l));
  return parts.join('\n') + '\n';
}
