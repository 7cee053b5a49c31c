// Darknet .cfg reader. The semantics (defaults, `pad` vs `padding`, maxpool size/padding defaults,
// section aliases, whitespace stripping) follow pjreddie/darknet's parser so that a cfg means the same
// network here as there; a model that silently meant something else would make every exposure number
// and every weights file exchanged with Darknet/DarkneTZ wrong.
//
// Key policy, per section:
//   - keys layerlock implements are parsed strictly (numbers, ranges) and used;
//   - keys whose meaning layerlock does not implement are REJECTED when their value would change the
//     result (grouped/dilated/XNOR convolution, Adam, per-layer learning-rate scales, ...), and accepted
//     silently when they carry Darknet's neutral value (groups=1, adam=0, ...): a cfg written for
//     Darknet must never quietly train or infer a different network here;
//   - keys that only steer Darknet's data augmentation or bookkeeping are ignored with a warning;
//   - keys found in none of these lists are ignored with a warning, as Darknet itself does
//     ("Unused field"), because an unknown key cannot be honoured and rejecting it would refuse cfgs
//     Darknet accepts. The explicit "unsupported" lists below are what turns a key into an error.
// Sections Darknet knows but layerlock does not implement ([route], [yolo], [lstm], ...) are errors:
// dropping a layer always changes the network.
import { readFile, stat } from 'node:fs/promises';
import type {
  Activation,
  AvgpoolConfig,
  ConnectedConfig,
  ConvolutionalConfig,
  CostConfig,
  CostType,
  DropoutConfig,
  LayerConfig,
  LrPolicy,
  MaxpoolConfig,
  NetOptions,
  NetworkConfig,
  SoftmaxConfig,
  SourceRef,
} from './config.js';

export class CfgError extends Error {
  readonly file: string;
  /** 1-based line; 0 when the problem concerns the whole file (unreadable, empty). */
  readonly line: number;
  readonly key?: string;

  constructor(file: string, line: number, what: string, key?: string) {
    super(line > 0 ? `${file}:${line}: ${what}` : `${file}: ${what}`);
    this.name = 'CfgError';
    this.file = file;
    this.line = line;
    this.key = key;
  }
}

// ---------------------------------------------------------------------------------------------
// Key tables. Exported so the CLI/docs can list them and tests can check them against the parser.

/** How a key that layerlock does not use is treated. */
export type KeyRule =
  /** Accepted only with Darknet's neutral value; any other value would change the result. */
  | { readonly kind: 'neutral'; readonly value: number; readonly why: string }
  /** Rejected whatever its value (it has no neutral value). */
  | { readonly kind: 'reject'; readonly why: string }
  /** Ignored with a warning: it does not affect the network's computation. */
  | { readonly kind: 'ignore'; readonly why?: string };

type RuleTable = Readonly<Record<string, KeyRule>>;

const neutral = (value: number, why: string): KeyRule => ({ kind: 'neutral', value, why });
const reject = (why: string): KeyRule => ({ kind: 'reject', why });
const ignore = (why?: string): KeyRule => (why === undefined ? { kind: 'ignore' } : { kind: 'ignore', why });

const AUGMENT = 'data augmentation is not done by layerlock';
const BOOKKEEPING = undefined;

/** [net] keys besides the ones parsed into NetOptions. */
export const NET_RULES: RuleTable = {
  adam: neutral(0, 'the Adam optimiser is not implemented; layerlock trains with SGD + momentum'),
  B1: ignore('only used with adam=1'),
  B2: ignore('only used with adam=1'),
  eps: ignore('only used with adam=1'),
  time_steps: neutral(1, 'recurrent time steps are not implemented'),
  notruth: neutral(0, 'training without truth is not implemented'),
  clip: neutral(0, 'gradient clipping is not implemented'),
  loss_scale: neutral(1, 'loss scaling is not implemented'),
  label_smooth_eps: neutral(0, 'label smoothing is not implemented'),
  ema_alpha: neutral(0, 'exponential moving average of weights is not implemented'),
  dynamic_minibatch: neutral(0, 'dynamic mini-batch size is not implemented'),
  contrastive: neutral(0, 'contrastive training is not implemented'),
  adversarial_lr: neutral(0, 'adversarial training is not implemented'),
  // Data augmentation (Darknet's classifier/detector data loaders).
  angle: ignore(AUGMENT),
  aspect: ignore(AUGMENT),
  saturation: ignore(AUGMENT),
  exposure: ignore(AUGMENT),
  hue: ignore(AUGMENT),
  jitter: ignore(AUGMENT),
  flip: ignore(AUGMENT),
  min_crop: ignore(AUGMENT),
  max_crop: ignore(AUGMENT),
  min_ratio: ignore(AUGMENT),
  max_ratio: ignore(AUGMENT),
  center: ignore(AUGMENT),
  mosaic: ignore(AUGMENT),
  mosaic_bound: ignore(AUGMENT),
  mixup: ignore(AUGMENT),
  cutmix: ignore(AUGMENT),
  blur: ignore(AUGMENT),
  gaussian_noise: ignore(AUGMENT),
  letter_box: ignore(AUGMENT),
  random: ignore('multi-scale detector training is not done by layerlock'),
  // Bookkeeping / performance switches of Darknet and its forks.
  max_chart_loss: ignore(BOOKKEEPING),
  track: ignore(BOOKKEEPING),
  augment_speed: ignore(BOOKKEEPING),
  sequential_subdivisions: ignore(BOOKKEEPING),
  init_sequential_subdivisions: ignore(BOOKKEEPING),
  try_fix_nan: ignore(BOOKKEEPING),
  cudnn_half: ignore(BOOKKEEPING),
  optimized_memory: ignore(BOOKKEEPING),
  workspace_size_limit_MB: ignore(BOOKKEEPING),
  use_cuda_graph: ignore(BOOKKEEPING),
  show_receptive_field: ignore(BOOKKEEPING),
  gpus: ignore(BOOKKEEPING),
};

/** Keys Darknet's parser reads for every layer section (parse_network_cfg) plus common fork additions. */
export const COMMON_LAYER_RULES: RuleTable = {
  truth: neutral(0, 'feeding truth into a layer is not implemented'),
  onlyforward: neutral(0, 'forward-only layers are not implemented'),
  stopbackward: neutral(0, 'stopping back-propagation at a layer is not implemented'),
  dontsave: neutral(0, 'it would leave the layer out of .weights files'),
  dontload: neutral(0, 'it would leave the layer out of .weights files'),
  numload: neutral(0, 'partial weight loading is not implemented'),
  dontloadscales: neutral(0, 'it would change the .weights layout'),
  learning_rate: neutral(1, 'per-layer learning-rate scales are not implemented'),
  smooth: neutral(0, 'label smoothing is not implemented'),
  train_only_bn: neutral(0, 'training only batch-norm parameters is not implemented'),
  dont_update: neutral(0, 'freezing layers from the cfg is not implemented'),
  burnin_update: neutral(0, 'burn-in-only updates are not implemented'),
};

export const CONVOLUTIONAL_RULES: RuleTable = {
  groups: neutral(1, 'grouped convolution would change the result'),
  dilation: neutral(1, 'dilated convolution would change the result'),
  xnor: neutral(0, 'XNOR convolution would change the result'),
  binary: neutral(0, 'binary weights would change the result'),
  flipped: neutral(0, 'transposed weight loading would change the result'),
  dot: neutral(0, 'the dot-product penalty would change training'),
  antialiasing: neutral(0, 'anti-aliased striding would change the result'),
  deform: neutral(0, 'deformable convolution would change the result'),
  sway: neutral(0, 'rotation-invariant weights would change the result'),
  rotate: neutral(0, 'rotation-invariant weights would change the result'),
  stretch: neutral(0, 'rotation-invariant weights would change the result'),
  stretch_sway: neutral(0, 'rotation-invariant weights would change the result'),
  assisted_excitation: neutral(0, 'assisted excitation would change training'),
  coordconv: neutral(0, 'coordinate channels would change the result'),
  share_index: reject('weight sharing between layers would change the result'),
};

export const CONNECTED_RULES: RuleTable = {};

export const MAXPOOL_RULES: RuleTable = {
  maxpool_depth: neutral(0, 'pooling across channels would change the result'),
  antialiasing: neutral(0, 'anti-aliased pooling would change the result'),
  out_channels: ignore('only used with maxpool_depth=1'),
};

export const AVGPOOL_RULES: RuleTable = {};

export const DROPOUT_RULES: RuleTable = {
  dropblock: neutral(0, 'DropBlock would change training'),
  dropblock_size_rel: ignore('only used with dropblock=1'),
  dropblock_size_abs: ignore('only used with dropblock=1'),
};

export const SOFTMAX_RULES: RuleTable = {
  groups: neutral(1, 'grouped softmax would change the result'),
  temperature: neutral(1, 'a softmax temperature would change the result'),
  spatial: neutral(0, 'spatial softmax would change the result'),
  noloss: neutral(0, 'a softmax without loss would change training'),
  tree: reject('hierarchical (tree) softmax is not implemented'),
};

export const COST_RULES: RuleTable = {
  ratio: neutral(0, 'hard-example mining would change training'),
  // Darknet reads these but only its GPU path (and the unsupported seg cost) uses them; DarkneTZ,
  // like layerlock, runs the CPU path, where they have no effect.
  noobj: ignore("only Darknet's GPU path and the seg cost use it"),
  thresh: ignore("only Darknet's GPU path uses it"),
};

/** Darknet section names (as written, brackets stripped) and what layerlock makes of them. */
const SECTION_ALIASES: Readonly<Record<string, LayerConfig['type'] | 'net'>> = {
  net: 'net',
  network: 'net',
  convolutional: 'convolutional',
  conv: 'convolutional',
  connected: 'connected',
  conn: 'connected',
  maxpool: 'maxpool',
  max: 'maxpool',
  avgpool: 'avgpool',
  avg: 'avgpool',
  dropout: 'dropout',
  softmax: 'softmax',
  soft: 'softmax',
  cost: 'cost',
};

const ACTIVATIONS: readonly Activation[] = ['linear', 'relu', 'leaky', 'logistic'];

/**
 * Names pjreddie/darknet's get_activation knows. One of these that layerlock does not implement is an
 * error (it would compute something else); any other name Darknet itself reads as relu, with a
 * message, and so do we.
 */
const DARKNET_ACTIVATIONS: readonly string[] = ['logistic', 'loggy', 'relu', 'elu', 'selu', 'relie', 'plse', 'hardtan', 'lhtan', 'linear', 'ramp', 'leaky', 'tanh', 'stair'];

/** get_policy's names: 'random' is one layerlock does not implement; unknown names mean constant. */
const DARKNET_POLICIES: readonly string[] = ['random', 'poly', 'constant', 'step', 'exp', 'sigmoid', 'steps'];

/** get_cost_type's names: unknown ones mean sse in Darknet. */
const DARKNET_COST_TYPES: readonly string[] = ['seg', 'sse', 'masked', 'smooth', 'L1', 'wgan'];

/** Darknet policy spellings → layerlock's. Darknet spells the sigmoid policy "sigmoid". */
const POLICIES: Readonly<Record<string, LrPolicy>> = {
  constant: 'constant',
  steps: 'steps',
  step: 'step',
  poly: 'poly',
  exp: 'exp',
  sigmoid: 'sig',
};

const COST_TYPES: readonly CostType[] = ['sse', 'L1', 'smooth', 'masked'];

// ---------------------------------------------------------------------------------------------
// Lexing

interface Entry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

interface RawSection {
  /** Name as written, without brackets (error messages quote what the user wrote). */
  readonly name: string;
  readonly line: number;
  readonly entries: Map<string, Entry>;
}

function lex(text: string, file: string, warnings: string[]): RawSection[] {
  const sections: RawSection[] = [];
  let current: RawSection | null = null;
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = src.split(/\r\n|\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    // Darknet removes every space/tab inside a line before looking at it ("output= 120" is fine);
    // we also drop \r and other whitespace so Windows-edited cfgs read the same.
    const line = lines[i]!.replace(/\s+/g, '');
    if (line === '' || line[0] === '#' || line[0] === ';') continue;
    if (line[0] === '[') {
      const m = /^\[([^[\]=]+)\]$/.exec(line);
      if (!m) throw new CfgError(file, lineNo, `malformed section header '${line}' (expected e.g. [convolutional])`);
      current = { name: m[1]!, line: lineNo, entries: new Map() };
      sections.push(current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) {
      throw new CfgError(file, lineNo, `expected 'key=value', a [section] header or a # comment, found '${line}'`);
    }
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === '') throw new CfgError(file, lineNo, `'${line}' has no key before '='`);
    if (current === null) {
      throw new CfgError(file, lineNo, `key '${key}' appears before any section (the file must start with [net])`, key);
    }
    if (value === '') throw new CfgError(file, lineNo, `[${current.name}] key '${key}' has no value`, key);
    const prev = current.entries.get(key);
    if (prev) {
      // Darknet keeps every line and its option_find returns the first: the later ones are unused.
      warnings.push(`${file}:${lineNo}: warning: [${current.name}] key '${key}' is set again (first on line ${prev.line}); ignored, as Darknet uses the first value '${prev.value}'`);
      continue;
    }
    current.entries.set(key, { key, value, line: lineNo });
  }
  return sections;
}

// ---------------------------------------------------------------------------------------------
// Typed access to one section's keys, with Darknet defaults and strict checks.

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT32_MAX = 2147483647;

interface Range {
  min?: number;
  max?: number;
  /** Exclusive upper bound. */
  below?: number;
  /** Exclusive lower bound. */
  above?: number;
}

class SectionReader {
  private readonly used = new Set<string>();
  /** Held back until finish() so a section's warnings come out in line order. */
  private readonly pending: { line: number; text: string }[] = [];

  constructor(
    readonly section: RawSection,
    private readonly file: string,
    private readonly warnings: string[],
  ) {}

  get label(): string {
    return `[${this.section.name}]`;
  }

  source(): SourceRef {
    return { file: this.file, line: this.section.line };
  }

  has(key: string): boolean {
    return this.section.entries.has(key);
  }

  entry(key: string): Entry | undefined {
    return this.section.entries.get(key);
  }

  fail(e: Entry, what: string): never {
    throw new CfgError(this.file, e.line, `${this.label} key '${e.key}=${e.value}' ${what}`, e.key);
  }

  failSection(what: string, key?: string): never {
    throw new CfgError(this.file, this.section.line, `${this.label} ${what}`, key);
  }

  warn(line: number, what: string): void {
    this.pending.push({ line, text: `${this.file}:${line}: warning: ${this.label} ${what}` });
  }

  markUsed(key: string): void {
    this.used.add(key);
  }

  private checkRange(e: Entry, v: number, r: Range): number {
    if (r.min !== undefined && v < r.min) this.fail(e, `must be at least ${r.min}`);
    if (r.max !== undefined && v > r.max) this.fail(e, `must be at most ${r.max}`);
    if (r.below !== undefined && v >= r.below) this.fail(e, `must be less than ${r.below}`);
    if (r.above !== undefined && v <= r.above) this.fail(e, `must be greater than ${r.above}`);
    return v;
  }

  parseInt(e: Entry, r: Range = {}): number {
    if (!INT_RE.test(e.value)) this.fail(e, 'is not an integer');
    const v = Number(e.value);
    if (!Number.isSafeInteger(v) || Math.abs(v) > INT32_MAX) this.fail(e, 'is out of range');
    return this.checkRange(e, v, r);
  }

  parseFloat(e: Entry, r: Range = {}): number {
    if (!FLOAT_RE.test(e.value)) this.fail(e, 'is not a number');
    const v = Number(e.value);
    if (!Number.isFinite(v)) this.fail(e, 'is out of range');
    return this.checkRange(e, v, r);
  }

  int(key: string, def: number, r: Range = {}): number {
    const e = this.entry(key);
    this.used.add(key);
    return e ? this.parseInt(e, r) : def;
  }

  requiredInt(key: string, what: string, r: Range = {}): number {
    const e = this.entry(key);
    if (!e) this.failSection(`needs '${key}=' (${what})`, key);
    this.used.add(key);
    return this.parseInt(e, r);
  }

  float(key: string, def: number, r: Range = {}): number {
    const e = this.entry(key);
    this.used.add(key);
    return e ? this.parseFloat(e, r) : def;
  }

  /**
   * Darknet's switches: it reads an integer and tests it for non-zero, so `pad=2` pads like `pad=1`.
   * We follow it (a cfg Darknet runs must mean the same network here) and warn about the unusual value.
   */
  flag(key: string): boolean {
    const e = this.entry(key);
    this.used.add(key);
    if (!e) return false;
    const v = this.parseInt(e);
    if (v !== 0 && v !== 1) this.warn(e.line, `key '${key}=${e.value}' is read as ${key}=1 (Darknet treats any non-zero value as on)`);
    return v !== 0;
  }

  str(key: string, def: string): string {
    const e = this.entry(key);
    this.used.add(key);
    return e ? e.value : def;
  }

  list(key: string, item: (e: Entry) => number): number[] | null {
    const e = this.entry(key);
    this.used.add(key);
    if (!e) return null;
    return e.value.split(',').map((part) => {
      if (part === '') this.fail(e, 'has an empty item in its comma-separated list');
      return item({ key: e.key, value: part, line: e.line });
    });
  }

  activation(): Activation {
    const e = this.entry('activation');
    this.used.add('activation');
    // Darknet's default for conv/connected layers is logistic, not linear.
    if (!e) return 'logistic';
    if (!(ACTIVATIONS as readonly string[]).includes(e.value)) {
      if (DARKNET_ACTIVATIONS.includes(e.value)) this.fail(e, `is not supported (supported activations: ${ACTIVATIONS.join(', ')})`);
      this.warn(e.line, `key 'activation=${e.value}' is not an activation Darknet knows; read as relu, as Darknet does (activations: ${ACTIVATIONS.join(', ')})`);
      return 'relu';
    }
    return e.value as Activation;
  }

  /** Darknet forks accept stride_x/stride_y; we only do square strides, so they must agree with stride. */
  squareStride(stride: number): void {
    for (const key of ['stride_x', 'stride_y']) {
      const e = this.entry(key);
      this.used.add(key);
      if (e && this.parseInt(e, { min: 1 }) !== stride) {
        this.fail(e, `is not supported (it differs from stride=${stride}; only square strides are implemented)`);
      }
    }
  }

  /** Applies a rule table (in file order) to keys not yet used, then warns about unknown leftovers. */
  finish(...tables: RuleTable[]): void {
    const entries = [...this.section.entries.values()].sort((a, b) => a.line - b.line);
    for (const e of entries) {
      if (this.used.has(e.key)) continue;
      const rule = tables.map((t) => (Object.hasOwn(t, e.key) ? t[e.key] : undefined)).find((r) => r !== undefined);
      if (!rule) {
        const near = closestKey(e.key, [...this.used, ...tables.flatMap((t) => Object.keys(t))]);
        const hint = near !== null ? `; did you mean '${near}'?` : '';
        this.warn(e.line, `unknown key '${e.key}' (ignored, as Darknet ignores unused keys${hint})`);
      } else if (rule.kind === 'ignore') {
        this.warn(e.line, `key '${e.key}' is not used by layerlock (ignored${rule.why ? `: ${rule.why}` : ''})`);
      } else if (rule.kind === 'reject') {
        this.fail(e, `is not supported (${rule.why})`);
      } else {
        const v = this.parseFloat(e);
        if (v !== rule.value) this.fail(e, `is not supported (${rule.why})`);
      }
    }
    this.pending.sort((a, b) => a.line - b.line);
    for (const w of this.pending) this.warnings.push(w.text);
  }
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps) of two short keys. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known key an unknown one is probably a typo of (`activaton` → `activation`), or null. */
function closestKey(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  const limit = key.length <= 4 ? 1 : 2;
  for (const k of new Set(known)) {
    const dist = editDistance(key.toLowerCase(), k.toLowerCase());
    if (dist < bestD && dist <= limit) {
      best = k;
      bestD = dist;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Sections

function parseNet(r: SectionReader): NetOptions {
  const batch = r.int('batch', 1, { min: 1 });
  const subdivisions = r.int('subdivisions', 1, { min: 1 });
  if (batch % subdivisions !== 0) {
    // Darknet divides with integer division and silently drops the remainder of each batch.
    const e = r.entry('subdivisions') ?? r.entry('batch')!;
    r.fail(e, `does not divide batch=${batch} (the mini-batch would be ${batch}/${subdivisions})`);
  }
  const height = r.requiredInt('height', 'input height in pixels', { min: 1 });
  const width = r.requiredInt('width', 'input width in pixels', { min: 1 });
  const channels = r.requiredInt('channels', 'input channels, 1 for grey or 3 for RGB', { min: 1 });
  const inputs = r.entry('inputs');
  r.markUsed('inputs');
  if (inputs && r.parseInt(inputs, { min: 1 }) !== height * width * channels) {
    r.fail(inputs, `is not supported (it differs from height*width*channels = ${height * width * channels})`);
  }
  const learningRate = r.float('learning_rate', 0.001, { min: 0 });
  const momentum = r.float('momentum', 0.9, { min: 0, below: 1 });
  const decay = r.float('decay', 0.0001, { min: 0 });
  const maxBatches = r.int('max_batches', 0, { min: 0 });
  const burnIn = r.int('burn_in', 0, { min: 0 });
  // Darknet reads power for every policy: burn-in uses it too.
  const power = r.float('power', 4);

  const policyEntry = r.entry('policy');
  r.markUsed('policy');
  let policy: LrPolicy = 'constant';
  if (policyEntry) {
    const p = Object.hasOwn(POLICIES, policyEntry.value) ? POLICIES[policyEntry.value] : undefined;
    if (p === undefined && DARKNET_POLICIES.includes(policyEntry.value)) {
      r.fail(policyEntry, `is not supported (supported policies: ${Object.keys(POLICIES).join(', ')})`);
    }
    if (p === undefined) {
      const hint = policyEntry.value === 'sig' ? "; Darknet spells the sigmoid policy 'sigmoid'" : '';
      r.warn(policyEntry.line, `key 'policy=${policyEntry.value}' is not a policy Darknet knows; read as constant, as Darknet does${hint}`);
    } else {
      policy = p;
    }
  }

  // Darknet only reads the keys of the chosen policy; the others are "unused fields".
  const usesStep = policy === 'step' || policy === 'sig';
  const usesScale = policy === 'step';
  const usesGamma = policy === 'exp' || policy === 'sig';
  const usesSteps = policy === 'steps';
  const step = usesStep ? r.int('step', 1, { min: 1 }) : 1;
  const scale = usesScale ? r.float('scale', 1) : 1;
  const gamma = usesGamma ? r.float('gamma', 1) : 1;
  let steps: number[] = [];
  let scales: number[] = [];
  if (usesSteps) {
    const st = r.list('steps', (e) => r.parseInt(e));
    const sc = r.list('scales', (e) => r.parseFloat(e));
    if (!st || !sc) r.failSection("policy=steps needs both 'steps=' and 'scales='", st ? 'scales' : 'steps');
    if (st.length !== sc.length) {
      r.fail(r.entry('scales')!, `has ${sc.length} values but steps has ${st.length}`);
    }
    steps = st;
    scales = sc;
  }
  for (const key of ['step', 'scale', 'gamma', 'steps', 'scales']) {
    const e = r.entry(key);
    const usedByPolicy =
      (key === 'step' && usesStep) || (key === 'scale' && usesScale) || (key === 'gamma' && usesGamma) ||
      ((key === 'steps' || key === 'scales') && usesSteps);
    if (e && !usedByPolicy) {
      r.warn(e.line, `key '${key}' is not used by policy=${policyEntry?.value ?? 'constant'} (ignored)`);
      r.markUsed(key);
    }
  }
  r.finish(NET_RULES);
  return {
    batch,
    subdivisions,
    height,
    width,
    channels,
    learningRate,
    momentum,
    decay,
    maxBatches,
    policy,
    steps,
    scales,
    step,
    scale,
    gamma,
    power,
    burnIn,
    source: r.source(),
  };
}

function parseConvolutional(r: SectionReader): ConvolutionalConfig {
  const filters = r.int('filters', 1, { min: 1 });
  const size = r.int('size', 1, { min: 1 });
  const stride = r.int('stride', 1, { min: 1 });
  r.squareStride(stride);
  // Darknet: `if (pad) padding = size/2`, so any non-zero pad (pad=2, pad=-1) means size/2.
  const pad = r.flag('pad');
  // Darknet: padding defaults to 0 and pad=1 overrides it with size/2 (integer division), so
  // `size=1 pad=1` means no padding.
  let padding = r.int('padding', 0, { min: 0 });
  if (pad) {
    const explicit = r.entry('padding');
    if (explicit && padding !== Math.floor(size / 2)) {
      r.warn(explicit.line, `key 'padding=${explicit.value}' is overridden by pad=1 (padding = size/2 = ${Math.floor(size / 2)}, as in Darknet)`);
    }
    padding = Math.floor(size / 2);
  }
  const activation = r.activation();
  const batchNormalize = r.flag('batch_normalize');
  r.finish(CONVOLUTIONAL_RULES, COMMON_LAYER_RULES);
  return { type: 'convolutional', filters, size, stride, padding, activation, batchNormalize, source: r.source() };
}

function parseConnected(r: SectionReader): ConnectedConfig {
  const output = r.int('output', 1, { min: 1 });
  const activation = r.activation();
  const batchNormalize = r.flag('batch_normalize');
  r.finish(CONNECTED_RULES, COMMON_LAYER_RULES);
  return { type: 'connected', output, activation, batchNormalize, source: r.source() };
}

function parseMaxpool(r: SectionReader): MaxpoolConfig {
  // Darknet's chain of defaults: size defaults to stride, padding (total, both sides) to size-1.
  const stride = r.int('stride', 1, { min: 1 });
  r.squareStride(stride);
  const size = r.int('size', stride, { min: 1 });
  const padding = r.int('padding', size - 1, { min: 0 });
  r.finish(MAXPOOL_RULES, COMMON_LAYER_RULES);
  return { type: 'maxpool', size, stride, padding, source: r.source() };
}

function parseAvgpool(r: SectionReader): AvgpoolConfig {
  r.finish(AVGPOOL_RULES, COMMON_LAYER_RULES);
  return { type: 'avgpool', source: r.source() };
}

function parseDropout(r: SectionReader): DropoutConfig {
  // Probability 1 would drop everything and Darknet's 1/(1-p) rescaling would divide by zero.
  const probability = r.float('probability', 0.5, { min: 0, below: 1 });
  r.finish(DROPOUT_RULES, COMMON_LAYER_RULES);
  return { type: 'dropout', probability, source: r.source() };
}

function parseSoftmax(r: SectionReader): SoftmaxConfig {
  r.finish(SOFTMAX_RULES, COMMON_LAYER_RULES);
  return { type: 'softmax', source: r.source() };
}

function parseCost(r: SectionReader): CostConfig {
  const e = r.entry('type');
  r.markUsed('type');
  let costType: CostType = 'sse';
  if (e) {
    if ((COST_TYPES as readonly string[]).includes(e.value)) costType = e.value as CostType;
    else if (DARKNET_COST_TYPES.includes(e.value)) r.fail(e, `is not supported (supported cost types: ${COST_TYPES.join(', ')})`);
    else r.warn(e.line, `key 'type=${e.value}' is not a cost type Darknet knows; read as sse, as Darknet does`);
  }
  const scale = r.float('scale', 1, { above: 0 });
  r.finish(COST_RULES, COMMON_LAYER_RULES);
  return { type: 'cost', costType, scale, source: r.source() };
}

// ---------------------------------------------------------------------------------------------

export function parseCfg(text: string, file: string): NetworkConfig {
  const warnings: string[] = [];
  const sections = lex(text, file, warnings);
  const first = sections[0];
  if (!first) throw new CfgError(file, 0, 'has no sections (a cfg starts with [net])');
  const firstKind = Object.hasOwn(SECTION_ALIASES, first.name) ? SECTION_ALIASES[first.name] : undefined;
  if (firstKind !== 'net') {
    throw new CfgError(file, first.line, `the first section must be [net] or [network], found [${first.name}]`);
  }
  const net = parseNet(new SectionReader(first, file, warnings));
  const layers: LayerConfig[] = [];
  for (const s of sections.slice(1)) {
    const kind = Object.hasOwn(SECTION_ALIASES, s.name) ? SECTION_ALIASES[s.name] : undefined;
    if (kind === undefined) {
      throw new CfgError(file, s.line, `section [${s.name}] is not supported by layerlock (supported: ${Object.keys(SECTION_ALIASES).filter((k) => SECTION_ALIASES[k] !== 'net').map((k) => `[${k}]`).join(' ')})`);
    }
    if (kind === 'net') throw new CfgError(file, s.line, `[${s.name}] may only be the first section`);
    const r = new SectionReader(s, file, warnings);
    switch (kind) {
      case 'convolutional':
        layers.push(parseConvolutional(r));
        break;
      case 'connected':
        layers.push(parseConnected(r));
        break;
      case 'maxpool':
        layers.push(parseMaxpool(r));
        break;
      case 'avgpool':
        layers.push(parseAvgpool(r));
        break;
      case 'dropout':
        // Darknet's dropout works in place on the previous layer's output, so it needs one.
        if (layers.length === 0) throw new CfgError(file, s.line, `[${s.name}] cannot be the first layer`);
        layers.push(parseDropout(r));
        break;
      case 'softmax':
        layers.push(parseSoftmax(r));
        break;
      case 'cost':
        layers.push(parseCost(r));
        break;
    }
  }
  if (layers.length === 0) throw new CfgError(file, first.line, `[${first.name}] is not followed by any layer section`);
  for (const w of warnings) warningSink(w);
  return { net, layers, warnings };
}

let warningSink: (warning: string) => void = () => {};

/**
 * Where parseCfg reports each warning as it parses (besides returning them): the CLI prints them on
 * stderr, so an unknown or misspelt key is seen by the user whichever command read the cfg.
 */
export function setCfgWarningSink(sink: (warning: string) => void): void {
  warningSink = sink;
}

export async function loadCfg(path: string): Promise<NetworkConfig> {
  let text: string;
  try {
    // A device or FIFO (/dev/zero, /dev/stdin) would be read forever: only regular files are cfgs.
    const st = await stat(path);
    if (!st.isFile() && !st.isDirectory()) throw new CfgError(path, 0, 'cannot read cfg: not a regular file');
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof CfgError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' :
      code === 'EISDIR' ? 'is a directory, not a cfg file' :
      code === 'EACCES' ? 'permission denied' :
      (err as Error).message;
    throw new CfgError(path, 0, `cannot read cfg: ${why}`);
  }
  return parseCfg(text, path);
}
