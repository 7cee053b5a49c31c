// The report page: one self-contained HTML file — inline CSS, charts as inline SVG rendered headless
// by Vega, no script, no font or image fetched — readable offline and printable. Each section appears
// when the inputs hold what it needs; nothing is invented for a missing result.
import { basename, isAbsolute, relative } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { teeCostChartSpec } from '../bench/chart.js';
import { benchPoints, type BenchDocument } from '../bench/tee-bench.js';
import type { PlanDocument } from '../bench/plan.js';
import { exposureChartSpec } from './exposure-chart.js';
import type { ExposureDocument } from '../exposure/results.js';
import type { DeployRecord, FinetuneRecord, PredictRecord, TrainRecord, ExposureRecord } from '../pipeline/stages.js';
import { renderSvg } from './charts.js';
import { dataName, type AttackDocument, type Named, type PipelineRun, type ReportInputs } from './load.js';
import { aucSpec, memoryBarSpec, networkSpec, partitionName, rangesSpec, rocSpec, type NetworkLayer } from './specs.js';

export interface ReportMeta {
  generatedAt: string;
  version: string;
  revision: string | null;
  /** The command that made the report. */
  command: string | null;
}

/** A chart as it appears in the page, with what a reader (or the browser test) should find in it. */
export interface ChartInfo {
  id: string;
  title: string;
  /** Vega mark types the SVG must contain (e.g. line, symbol, rect). */
  marks: string[];
}

const MiB = 1 << 20;

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const f = (x: number | null | undefined, d = 3): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));
const pct = (x: number | null | undefined, d = 1): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(100 * x).toFixed(d)} %`);
const sgn = (x: number, d = 2): string => `${x >= 0 ? '+' : ''}${x.toFixed(d)} %`;
const mib = (b: number): string => `${(b / MiB).toFixed(2)} MiB`;
const pval = (p: number): string => (p === 0 ? '< 1e-300' : p < 1e-4 ? p.toExponential(2) : p.toFixed(4));

function table(head: string[], rows: string[][], cls = ''): string {
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${
    rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

function dl(items: [string, string][]): string {
  return `<dl>${items.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

/**
 * Vega numbers nothing per view, but ids (clip paths, gradients) could repeat between charts inlined
 * in one page: every id and reference gets the chart's prefix.
 */
export function namespaceSvgIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${prefix}-${id})`)
    .replace(/(xlink:)?href="#([^"]+)"/g, (_, x: string | undefined, id: string) => `${x ?? ''}href="#${prefix}-${id}"`);
}

/** A source path as the reader should see it: relative to the working folder when inside it. */
function shortPath(p: string): string {
  if (!isAbsolute(p)) return p;
  const r = relative(process.cwd(), p);
  return r.startsWith('..') ? p : r;
}

class Page {
  readonly charts: ChartInfo[] = [];
  private n = 0;

  async chart(spec: TopLevelSpec, title: string, marks: string[], caption: string): Promise<string> {
    const id = `chart-${++this.n}`;
    let svg = await renderSvg(spec);
    svg = namespaceSvgIds(svg, id).replace('<svg ', `<svg role="img" aria-label="${esc(title)}" `);
    this.charts.push({ id, title, marks });
    return `<figure class="chart" id="${id}" data-marks="${marks.join(',')}">${svg}<figcaption>${caption}</figcaption></figure>`;
  }
}

// ---- sections ---------------------------------------------------------------------------------

function trainOf(inputs: ReportInputs): { run: Named<PipelineRun>; train: TrainRecord } | null {
  for (const run of inputs.pipelines) {
    const t = run.doc.stages.get('train');
    if (t) return { run, train: t.result as TrainRecord };
  }
  return null;
}

function modelSection(inputs: ReportInputs): string {
  const parts: string[] = [];
  const tr = trainOf(inputs);
  if (tr) {
    const t = tr.train;
    const s = tr.run.doc.manifest.settings;
    parts.push(`<h3>Model</h3>`, dl([
      ['network', `${esc(basename(s.cfg))} — ${t.model.layers.length} layers, ${t.model.params.toLocaleString('en-US')} parameters, batch ${t.model.batch}, learning rate ${t.model.learning_rate}`],
      ['layers', esc(t.model.layers.map((l) => l.label).join(' · '))],
      // `run --model`: the model came trained; the stage only trained it --epochs more (default none).
      ['trained', s.base_weights_sha256 !== undefined
        ? `given weights (an imported model, SHA-256 ${s.base_weights_sha256.slice(0, 12)}…)${t.epochs > 0 ? `, then ${t.epochs} epochs on S with seed ${t.seed}, ${t.seconds.toFixed(1)} s` : ', not trained further'}`
        : `${t.epochs} epochs on S with seed ${t.seed}, ${t.seconds.toFixed(1)} s (${Math.round(t.train_img_s)} img/s, ${esc(t.kernels)})`],
    ]));
    parts.push(`<h3>Data</h3>`, dl([
      ['data set', `${esc(dataName(t.data.location))} (${esc(t.data.format)}), images ${t.data.shape.join('×')} (C×H×W), ${t.data.classes} classes`],
      ['sets', `training ${t.data.train_count} images${s.train_limit !== null ? ` (the first ${s.train_limit})` : ''} split into S = ${t.data.S} (private, trains the model) and T = ${t.data.T} (public, disjoint); test V = ${t.data.test_count}`],
    ]));
    parts.push(table(['set', 'images', 'loss', 'accuracy'], [
      ['S (members)', String(t.S.n), f(t.S.loss, 4), pct(t.S.acc, 2)],
      ['T (held out)', String(t.T.n), f(t.T.loss, 4), pct(t.T.acc, 2)],
      ['test V', String(t.test.n), f(t.test.loss, 4), pct(t.test.acc, 2)],
    ]));
    parts.push(`<p>Generalisation gap gen = loss(V) − loss(S) = <b>${f(t.gen, 4)}</b>: ${t.gen !== null && t.gen > 0.05
      ? 'the model has memorised S, so the layers hold something about it to measure.'
      : 'small — the exposure of a model that generalises this well is close to noise.'}</p>`);
  }
  if (inputs.exposure.length > 0) {
    parts.push(`<h3>${tr ? 'Exposure runs' : 'Models and data of the exposure runs'}</h3>`, table(
      ['data set', 'network', 'training / test images', 'S share', 'E', 'E_ft', 'seeds', 'base S acc', 'base test acc', 'gen'],
      inputs.exposure.map(({ name, doc }) => [
        esc(name), esc(basename(doc.options.cfg)), `${doc.options.train_count} / ${doc.options.test_count}`, String(doc.options.split),
        doc.options.epochs === null ? 'given' : String(doc.options.epochs), String(doc.options.ft_epochs), esc(doc.options.seeds.join(', ')),
        pct(doc.base.S.acc, 2), pct(doc.base.test.acc, 2), f(doc.base.gen, 4),
      ]),
    ));
  }
  if (parts.length === 0) return '';
  return `<section id="model"><h2>The model and the data</h2>${parts.join('\n')}</section>`;
}

interface ExposureLayerCi {
  exposure_ci95?: [number, number] | null;
}

async function exposureSection(page: Page, list: Named<ExposureDocument>[]): Promise<string> {
  if (list.length === 0) return '';
  const names = new Map<string, number>();
  const series = list.map(({ name, doc }) => {
    const seen = names.get(name) ?? 0;
    names.set(name, seen + 1);
    const label = seen === 0 ? name : `${name} (${seen + 1})`;
    return { name: label, layers: doc.layers.map((l) => ({ label: l.label, exposure: l.exposure, std: l.exposure_std })) };
  });
  const anyStd = list.some(({ doc }) => doc.layers.some((l) => l.exposure_std !== null));
  const chart = await page.chart(exposureChartSpec(series, 'Layer-wise exposure (Figure 2)'), 'Layer-wise exposure', anyStd ? ['line', 'symbol', 'rule'] : ['line', 'symbol'],
    `Exposure of each trainable layer, exposure_l = (gen(Mp_l) − gen(Mr_l)) / gen(Mp_l) with gen = loss(V) − loss(S)${anyStd ? '; bars: ± one standard deviation over the seeds' : ''}. ` +
    'Mr_l: layer l re-initialised and trained on the public T; Mp_l: layer l trained further on S; all other layers frozen (Mo et al. 2019).');
  const tables = list.map(({ name, doc }) => {
    const seeds = doc.options.seeds.length;
    const rows = doc.layers.map((l) => {
      const ci = (l as typeof l & ExposureLayerCi).exposure_ci95;
      return [
        `${esc(l.label)} (${l.index})`, l.type === 'convolutional' ? 'conv' : 'fc', l.params.toLocaleString('en-US'), f(l.gen_mr, 4), f(l.gen_mp, 4),
        `<b>${f(l.exposure)}</b>${l.exposure_std !== null ? ` ± ${f(l.exposure_std)}` : ''}`, ci ? `${f(ci[0])} … ${f(ci[1])}` : seeds > 1 ? '—' : 'one seed',
      ];
    });
    const top = [...doc.layers].filter((l) => l.exposure !== null).sort((a, b) => b.exposure! - a.exposure!)[0];
    return `<h3>${esc(name)}</h3><p>${seeds} seed${seeds === 1 ? '' : 's'} (${esc(doc.options.seeds.join(', '))}); highest: <b>${top ? `${esc(top.label)} ${f(top.exposure)}` : '—'}</b>.</p>` +
      table(['layer', 'type', 'parameters', 'gen(Mr)', 'gen(Mp)', 'exposure', '95 % interval'], rows);
  });
  const oneSeed = list.every(({ doc }) => doc.options.seeds.length === 1);
  return `<section id="exposure"><h2>Which layers leak: exposure per layer</h2>${chart}${oneSeed
    ? '<p class="note">One seed per run: the numbers carry no interval, and close values (a few hundredths apart) do not rank the layers reliably. Run with <code>--seeds 1,2,3</code> for intervals.</p>'
    : ''}${tables.join('\n')}</section>`;
}

/** Every layer's label by cfg index, from the ranges of a plan (every layer lies in some range). */
function planLayers(plan: PlanDocument): NetworkLayer[] {
  const labels = new Map<number, string>();
  for (const r of plan.ranges) r.layers.forEach((l, j) => labels.set(r.tee_layers[0] + j, l));
  const exp = new Map((plan.exposure?.layers ?? []).map((l) => [l.index, l.exposure]));
  return [...labels.entries()].sort((a, b) => a[0] - b[0]).map(([index, label]) => ({ index, label, exposure: exp.get(index) ?? null }));
}

async function planSection(page: Page, plans: Named<PlanDocument>[]): Promise<string> {
  if (plans.length === 0) return '';
  const out: string[] = [];
  for (const { name, doc } of plans) {
    const rec = doc.recommended;
    const layers = planLayers(doc);
    out.push(`<h3>${esc(plans.length > 1 ? name : basename(doc.cfg))}: ${doc.mode === 'train' ? 'fine-tuning' : 'inference'} at batch ${doc.batch}, ${mib(doc.secure_mem)} of secure memory</h3>`);
    if (rec) {
      out.push(`<p class="headline">Recommended: <b>--tee-layers ${rec.tee_layers.join(':')}</b> (${esc(rec.layers.join(' '))}) — exposure ${f(rec.exposure)} protected, ${mib(rec.memory_bytes)} of ${mib(doc.secure_mem)}, predicted +${rec.overhead_pct.toFixed(2)} % time per batch.</p>`);
      out.push(await page.chart(networkSpec(layers, rec.tee_layers, 'The network, the recommended TEE range in red'), 'The network and the TEE range', ['rect', 'text'],
        'Every layer of the network from input (left) to output (right); bar height: the exposure of the trainable layers; red: the layers that run inside the TEE.'));
      out.push(await page.chart(memoryBarSpec(rec.memory_bytes, doc.secure_mem, 'Secure memory'), 'Secure memory', ['rect'],
        'What the recommended range needs of the TEE\'s secure memory (weights, gradients, momentum, activations, deltas, workspace, I/O buffers; memory model of src/bench/memory.ts).'));
    } else {
      out.push(`<p class="headline">No range fits: ${esc(doc.why)}</p>`);
    }
    if (doc.ranges.length > 0) {
      out.push(await page.chart(rangesSpec(doc.ranges, rec?.tee_layers ?? null, doc.secure_mem, `Every range that fits (${doc.ranges.length}; ${doc.ranges_too_big} do not)`), 'Every fitting range', ['symbol', 'rule'],
        'Each point is a contiguous layer range that fits; the dashed line is the secure-memory budget.'));
    }
    out.push(`<p>${esc(doc.why)}</p>`);
    // The measured-attack column appears when the plan was made with `plan --attacks`.
    const measured = doc.ranges.some((r) => r.attack !== undefined);
    const shown = doc.ranges.slice(0, 15);
    const attackCell = (r: (typeof doc.ranges)[number]): string => (r.attack ? `${f(r.attack.auc)} (${f(r.attack.auc_ci95[0])}–${f(r.attack.auc_ci95[1])}) ${esc(r.attack.attack)}` : 'not measured');
    out.push(table(['range', 'layers', 'memory', '% of budget', 'predicted overhead', 'exposure', ...(measured ? ['strongest attack measured (AUC)'] : [])], shown.map((r) => [
      `${r.tee_layers.join(':')}${rec && r.tee_layers[0] === rec.tee_layers[0] && r.tee_layers[1] === rec.tee_layers[1] ? ' ★' : ''}`,
      esc(r.layers.join(' ')), mib(r.memory_bytes), `${((100 * r.memory_bytes) / doc.secure_mem).toFixed(1)} %`, `+${r.overhead_pct.toFixed(2)} %`, f(r.exposure),
      ...(measured ? [attackCell(r)] : []),
    ])) + (doc.ranges.length > shown.length ? `<p class="note">The best ${shown.length} of ${doc.ranges.length} ranges that fit.</p>` : ''));
    if (doc.attacks?.unprotected) {
      const u = doc.attacks.unprotected;
      out.push(`<p>With nothing protected the strongest measured attack (${esc(u.attack)}) reaches AUC ${f(u.auc)} (${f(u.auc_ci95[0])}–${f(u.auc_ci95[1])}); sweep: <code>${esc(doc.attacks.file)}</code>.</p>`);
    }
  }
  return `<section id="plan"><h2>What to protect: the plan</h2>${out.join('\n')}</section>`;
}

async function benchSection(page: Page, list: Named<BenchDocument>[]): Promise<string> {
  if (list.length === 0) return '';
  const out: string[] = [];
  for (const { name, doc } of list) {
    const o = doc.options as Record<string, unknown>;
    const reps = Number(o['reps']);
    const cfgName = basename(String(o['cfg'] ?? 'model.cfg'));
    const title = `${cfgName}: fine-tuning ${String(o['batches'])} × ${String(o['batch'])} images, ${reps} runs per configuration`;
    out.push(`<h3>${esc(name)} — ${esc(cfgName)}</h3>`);
    out.push(await page.chart(teeCostChartSpec(benchPoints(doc.configs), title), `TEE cost ${name}`, ['line', 'symbol', 'rect', 'rule'],
      'Fine-tuning time and memory as the last k layers move into the TEE (Figure 4): mean and 95 % interval per configuration, the all-in-REE baseline dashed.'));
    out.push(table(['k', 'TEE layers', 'time s (mean, 95 % CI)', 'Δtime paired (95 % CI)', 'TEE arena', 'Δbuffers', 'boundary / batch'], doc.configs.map((c) => [
      c.added ? `${c.k} ${esc(c.added)}` : '0', c.tee_layers ? c.tee_layers.join(':') : '—',
      `${c.time.mean.toFixed(3)} (${c.time.ci95[0].toFixed(3)}–${c.time.ci95[1].toFixed(3)})`,
      c.k === 0 ? 'baseline' : `${sgn(c.overhead_time_paired_pct)} (${c.overhead_time_paired_ci95_pct[0].toFixed(1)} … ${c.overhead_time_paired_ci95_pct[1].toFixed(1)})`,
      mib(c.tee_peak_bytes), c.k === 0 ? 'baseline' : sgn(c.buffers.overhead_pct), c.k === 0 ? '—' : `${Math.round(c.boundary.per_batch).toLocaleString('en-US')} B`,
    ])));
    const a = doc.anova;
    out.push(`<p>One-way ANOVA, time: F(${a.time.df1}, ${a.time.df2}) = ${a.time.F.toFixed(2)}, p = ${pval(a.time.p)}; memory: F(${a.memory.df1}, ${a.memory.df2}) = ${a.memory.F.toFixed(2)}, p = ${pval(a.memory.p)}` +
      `${doc.anova_blocked ? `; blocked by repetition, time: F(${doc.anova_blocked.time.df1}, ${doc.anova_blocked.time.df2}) = ${doc.anova_blocked.time.F.toFixed(2)}, p = ${pval(doc.anova_blocked.time.p)}` : ''}. ` +
      `Stopped: ${esc(doc.stopped_because)}.</p>`);
    if (reps < 10) out.push(`<p class="note">${reps} runs per configuration: enough to see the trend, not the paper's 30 — the intervals are wide.</p>`);
  }
  return `<section id="cost"><h2>What protection costs</h2>${out.join('\n')}</section>`;
}

async function attackSection(page: Page, inputs: ReportInputs, layerCount: number | null): Promise<string> {
  if (inputs.attacks.length === 0) {
    // A recommendation without attack results rests on the exposure proxy alone: say so.
    if (inputs.pipelines.length > 0) {
      return `<section id="attacks"><h2>What an attacker can still do</h2><p class="note">No attack results in this run: the attack sweep (issue 11, <code>layerlock attack sweep</code>) was not part of the build that made it.</p></section>`;
    }
    return inputs.plans.length > 0
      ? `<section id="attacks"><h2>What an attacker can still do</h2><p class="note">No attack results among the inputs: the plan above rests on the exposure measurement alone (give a <code>layerlock attack sweep</code> folder to add the evidence).</p></section>`
      : '';
  }
  const groups = new Map<string, { partition: string; doc: AttackDocument }[]>();
  for (const a of inputs.attacks) {
    const g = groups.get(a.name) ?? [];
    g.push({ partition: partitionName(a.doc, layerCount), doc: a.doc });
    groups.set(a.name, g);
  }
  const out: string[] = [];
  for (const [name, docs] of groups) {
    out.push(`<h3>${esc(name)}</h3>`);
    const auc = aucSpec(docs, 'Attack AUC vs layers in the TEE');
    if (auc) out.push(await page.chart(auc, `Attack AUC ${name}`, ['line', 'symbol', 'rule'], 'ROC AUC of each membership-inference attack (bootstrap 95 % interval) for each partition; 0.5 is chance.'));
    const roc = rocSpec(docs, 'ROC curves (log–log)');
    if (roc) out.push(await page.chart(roc, `ROC ${name}`, ['line'], 'True against false positive rate on log axes, for the strongest attack against each partition: the low-FPR region is where a membership attack is dangerous; the dashed diagonal is chance.'));
    out.push(table(['layers in the TEE', 'output', 'attack', 'sees', 'AUC (95 % CI)', 'TPR @ 0.1 % FPR', 'TPR @ 1 % FPR', 'advantage'], docs.flatMap(({ partition, doc }) => doc.attacks.map((a) => [
      esc(partition), esc(doc.partition.output ?? '—'), esc(a.name), esc((a.sees ?? []).join(', ') || '—'),
      `${f(a.auc)}${a.auc_ci95 ? ` (${f(a.auc_ci95[0])}–${f(a.auc_ci95[1])})` : ''}`,
      pct(a.tpr_at_fpr?.['0.001'], 2), pct(a.tpr_at_fpr?.['0.01'], 2), f(a.advantage),
    ]).concat(doc.refused && doc.refused.length > 0 ? [[esc(partition), esc(doc.partition.output ?? '—'), esc(doc.refused.map((x) => x.name).join(', ')), '—',
      `<span class="note">refused: ${esc(doc.refused[0]!.reason.split(';')[0]!.replace(/^attack \S+ /, 'it '))}</span>`, '', '', '']] : []))));
    const steal = docs.filter((d) => d.doc.stealing);
    if (steal.length > 0) {
      out.push('<h4>Model stealing</h4>', table(['layers in the TEE', 'queries', 'surrogate acc', 'agreement', 'victim acc', 'black-box baseline'], steal.map(({ partition, doc }) => {
        const s = doc.stealing!;
        return [esc(partition), String(s.queries), pct(s.surrogate_acc), pct(s.agreement), pct(s.victim_acc), pct(s.blackbox_acc)];
      })));
    }
  }
  return `<section id="attacks"><h2>What an attacker can still do</h2>${out.join('\n')}</section>`;
}

function deploySection(inputs: ReportInputs): string {
  const out: string[] = [];
  for (const run of inputs.pipelines) {
    const st = run.doc.stages;
    const d = st.get('deploy')?.result as DeployRecord | undefined;
    if (!d) continue;
    out.push(dl([
      ['server key', `<code>${esc(d.server_key_id)}</code> (Ed25519 signing, X25519 export); its public half <code>${esc(d.trust.server_public_key)}</code> is the devices' trust anchor`],
      ['device', `<code>${esc(d.device_id)}</code>, TA <code>${esc(d.ta_uuid)}</code>; certificate <code>${esc(d.trust.device_certificate)}</code> (emulated attestation)`],
      ['package', `<code>${esc(d.package_id)}</code>, version ${d.package_version}; layers ${d.partition.start}:${d.partition.end} HPKE-encrypted to the device (trainable ${esc(d.protected_layers.join(', ') || 'none')}), in the clear: ${esc(d.clear_layers.join(', ') || 'none')}`],
      ['installed', `model version ${d.model_version}; protected layers decrypted and sealed only inside the TA (AES-256-GCM, key from the emulated hardware-unique key); output policy <b>${esc(d.partition.policy)}</b>`],
    ]));
    out.push(table(['file', 'bytes', 'SHA-256', 'what'], d.files.map((x) => [`<code>${esc(x.path)}</code>`, x.bytes.toLocaleString('en-US'), `<code class="hash">${esc(x.sha256)}</code>`, esc(x.what)])));
    const ft = st.get('finetune')?.result as FinetuneRecord | undefined;
    if (ft) {
      out.push(`<p>Fine-tuned on the device: ${ft.epochs} epoch${ft.epochs === 1 ? '' : 's'} over ${ft.images} images in ${ft.seconds.toFixed(1)} s (${Math.round(ft.train_img_s)} img/s), re-sealed and saved as model version ${ft.model_version} (was ${ft.previous_version}); ` +
        `test accuracy ${pct(ft.test.acc, 2)}${ft.test.loss === null ? ' (the loss stays inside the TEE)' : ''}. TEE arena peak ${mib(ft.tee.arena_peak_bytes)} of ${mib(ft.tee.secure_mem)}; ` +
        `${(ft.tee.boundary_bytes.to_tee + ft.tee.boundary_bytes.from_tee).toLocaleString('en-US')} bytes crossed the boundary.</p>`);
    }
    const pr = st.get('predict')?.result as PredictRecord | undefined;
    if (pr) {
      out.push(`<p>Predicted on the device: ${pr.correct} of ${pr.images} test images correct (${pct(pr.acc)}). Under policy <b>${esc(pr.policy)}</b> the normal world received ` +
        `${pr.released.scores ? 'class scores' : `only ${pr.released.classes_listed === 1 ? 'the top-1 label' : `${pr.released.classes_listed} ranked labels`}, no scores`} per image.</p>`);
      out.push(table(['test image', 'label', 'predicted'], pr.examples.map((e) => [String(e.index), String(e.label), `${e.predicted}${e.predicted === e.label ? '' : ' ✗'}`])));
    }
  }
  if (out.length === 0) return '';
  return `<section id="deployment"><h2>The protected model on the device</h2>${out.join('\n')}</section>`;
}

function reproduceSection(inputs: ReportInputs, meta: ReportMeta): string {
  const out: string[] = [];
  for (const run of inputs.pipelines) {
    const m = run.doc.manifest;
    const s = m.settings;
    const e = m.environment;
    out.push(`<h3>Pipeline run ${esc(run.name)}</h3>`);
    if (m.command) out.push(`<pre>${esc(m.command)}</pre>`);
    out.push(dl([
      ['layerlock', `${esc(e.layerlock_version)}, code revision <code>${esc(e.revision ?? 'unknown (not a git checkout)')}</code>`],
      ['machine', `${esc(e.cpu)}, ${e.cores} cores, ${esc(e.platform)}, Node ${esc(e.node)}; kernels ${esc(e.kernels)}`],
      ['settings', esc(`data ${dataName(s.data)}${s.train_limit !== null ? ` (first ${s.train_limit} training images)` : ''}, split ${s.split}, seeds ${s.seeds.join(', ')}, E = ${s.epochs}, E_ft = ${s.ft_epochs}, ` +
        `secure memory ${mib(s.secure_mem)}, bench ${s.bench_reps} reps × ${s.bench_batches} batches, ${s.device_epochs} device epoch(s), cfg SHA-256 ${s.cfg_sha256.slice(0, 16)}…`)],
      ['started', esc(m.started_at)],
    ]));
    const stages = [...run.doc.stages.values()];
    if (stages.length > 0) {
      const total = stages.reduce((a, r) => a + r.seconds, 0);
      out.push(table(['stage', 'seconds', 'finished'], [...stages.map((r) => [esc(r.name), r.seconds.toFixed(1), esc(r.finished_at)]), ['<b>all</b>', `<b>${total.toFixed(1)}</b>`, '']]));
    }
    const ex = run.doc.stages.get('exposure')?.result as ExposureRecord | undefined;
    if (ex) out.push(`<p class="note">Exposure jobs: ${ex.jobs_ran} ran in ${ex.wall_seconds.toFixed(1)} s of wall time in this run's invocation(s).</p>`);
  }
  const standalone: string[][] = [];
  for (const { name, doc } of inputs.exposure) {
    const o = doc.options;
    standalone.push([esc(name), `<code>layerlock exposure --cfg ${esc(o.cfg)} --data ${esc(dataName((o as { data_location?: string }).data_location ?? o.data))} ${o.epochs !== null ? `--epochs ${o.epochs} ` : ''}--ft-epochs ${o.ft_epochs} --seeds ${o.seeds.join(',')}${o.train_limit !== null ? ` --train-limit ${o.train_limit}` : ''} --out DIR</code>`,
      esc(`${doc.kernels}; ${(doc.wall_seconds ?? 0).toFixed(0)} s wall, ${doc.seconds.toFixed(0)} s of job time`)]);
  }
  for (const { name, doc } of inputs.bench) {
    const o = doc.options as Record<string, unknown>;
    const env = doc.environment as Record<string, unknown>;
    standalone.push([esc(name), `<code>layerlock bench tee --cfg ${esc(String(o['cfg']))}${o['weights'] ? ` --weights ${esc(basename(String(o['weights'])))}` : ''} --data ${esc(dataName(String(o['data'])))} --reps ${String(o['reps'])} --batches ${String(o['batches'])} --warmup ${String(o['warmup'])} --secure-mem ${String(o['secure_mem'])} --seed ${String(o['seed'])} --out DIR</code>`,
      esc(`${String(env['kernels'])}, TA ${String(env['ta_kernels'])}, Node ${String(env['node'])}; ${doc.seconds.toFixed(0)} s`)]);
  }
  if (standalone.length > 0) out.push('<h3>Result folders</h3>', table(['result', 'command', 'kernels and time'], standalone));
  out.push(`<p class="note">Report made ${esc(meta.generatedAt)} by layerlock ${esc(meta.version)} (revision <code>${esc(meta.revision ?? 'unknown')}</code>)${meta.command ? ` with <code>${esc(meta.command)}</code>` : ''}; ` +
    `sources: ${esc([...inputs.pipelines, ...inputs.exposure, ...inputs.bench, ...inputs.plans, ...inputs.attacks].map((x) => shortPath(x.source)).join(', '))}.</p>`);
  return `<section id="reproduce"><h2>How to reproduce it</h2>${out.join('\n')}</section>`;
}

const CSS = `
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #222; max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; line-height: 1.45; font-size: 15px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; border-bottom: 2px solid #c0392b; padding-bottom: 3px; margin-top: 36px; }
h3 { font-size: 16px; margin: 22px 0 8px; }
p.sub { color: #666; margin: 0 0 18px; }
.summary { background: #fbeeee; border-left: 5px solid #c0392b; padding: 10px 16px; margin: 16px 0; }
.headline { font-size: 16px; }
.note { color: #666; font-size: 13px; }
nav { font-size: 13px; margin: 8px 0 0; }
nav a { color: #c0392b; margin-right: 14px; text-decoration: none; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td:not(:first-child) { font-variant-numeric: tabular-nums; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
code.hash { word-break: break-all; font-size: 11px; }
pre { background: #f6f6f6; padding: 8px 12px; overflow-x: auto; font-size: 12px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 8px 0 12px; }
dt { font-weight: bold; color: #555; }
dd { margin: 0; }
figure.chart { margin: 12px 0 18px; }
figure.chart svg { max-width: 100%; height: auto; }
figcaption { font-size: 12px; color: #555; max-width: 900px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav { display: none; }
  section, figure.chart, table { break-inside: avoid; }
  h2 { break-after: avoid; }
}
`;

function summary(inputs: ReportInputs): string {
  const lines: string[] = [];
  const plan = inputs.plans[0]?.doc;
  if (plan?.recommended) {
    const r = plan.recommended;
    lines.push(`<p class="headline">Protect <b>layers ${r.tee_layers.join(':')}</b> (${esc(r.layers.join(' '))}) in the TEE: they hold exposure ${f(r.exposure)} of the network's ${f(plan.exposure?.total ?? null)} and need ${mib(r.memory_bytes)} of the ${mib(plan.secure_mem)} secure memory (<code>--tee-layers ${r.tee_layers.join(':')}</code>).</p>`);
  }
  for (const { name, doc } of inputs.exposure) {
    const top = [...doc.layers].filter((l) => l.exposure !== null).sort((a, b) => b.exposure! - a.exposure!)[0];
    if (top) lines.push(`<p>${esc(name)}: the most exposed layer is <b>${esc(top.label)}</b> (exposure ${f(top.exposure)}).</p>`);
  }
  const rec = plan?.recommended?.tee_layers ?? null;
  const strongest = (d: AttackDocument | undefined): AttackDocument['attacks'][number] | undefined => d ? [...d.attacks].sort((a, b) => b.auc - a.auc)[0] : undefined;
  const byName = new Map<string, AttackDocument[]>();
  for (const a of inputs.attacks) byName.set(a.name, [...(byName.get(a.name) ?? []), a.doc]);
  for (const [name, docs] of byName) {
    const base = strongest(docs.find((d) => d.partition.tee_layers === null));
    const prot = rec ? strongest(docs.find((d) => d.partition.tee_layers?.[0] === rec[0] && d.partition.tee_layers?.[1] === rec[1])) : undefined;
    if (base || prot) {
      // Several attack runs (data sets, draws) each get a line: the name says which one it is.
      lines.push(`<p>Membership inference${byName.size > 1 ? ` (${esc(name)})` : ''}, strongest attack (ROC AUC, 0.5 = chance): ${base ? `<b>${f(base.auc, 2)}</b> (${esc(base.name)}) with nothing protected` : ''}${base && prot ? ', ' : ''}${
        prot && rec ? `<b>${f(prot.auc, 2)}</b> (${esc(prot.name)}) with layers ${rec.join(':')} in the TEE` : ''}.</p>`);
    }
  }
  for (const { name, doc } of inputs.bench) {
    const last = doc.configs[doc.configs.length - 1];
    if (last && last.k > 0) {
      const [lo, hi] = last.overhead_time_paired_ci95_pct;
      // With a few noisy runs the interval can hold zero (or a negative mean): say so rather than quote noise.
      const time = lo <= 0 && hi >= 0
        ? `no time difference measurable at ${last.runs} runs per configuration (${sgn(last.overhead_time_paired_pct, 1)}, 95 % CI ${lo.toFixed(1)} … ${hi.toFixed(1)} %)`
        : `${sgn(last.overhead_time_paired_pct, 1)} time (paired, 95 % CI ${lo.toFixed(1)} … ${hi.toFixed(1)} %)`;
      lines.push(`<p>TEE cost (${esc(name)}): with the last ${last.k} layers in the TEE, ${time}; ${mib(last.tee_peak_bytes)} of secure memory.</p>`);
    }
  }
  return lines.length > 0 ? `<div class="summary">${lines.join('')}</div>` : '';
}

/** The whole page. */
export async function renderReport(inputs: ReportInputs, meta: ReportMeta): Promise<{ html: string; charts: ChartInfo[]; sections: string[] }> {
  const page = new Page();
  const tr = trainOf(inputs);
  const layerCount = tr ? tr.train.model.layers.length : inputs.plans[0] ? planLayers(inputs.plans[0].doc).length : null;
  const parts: [string, string, string][] = [
    ['model', 'Model and data', modelSection(inputs)],
    ['exposure', 'Exposure', await exposureSection(page, inputs.exposure)],
    ['plan', 'Plan', await planSection(page, inputs.plans)],
    ['cost', 'Cost', await benchSection(page, inputs.bench)],
    ['attacks', 'Attacks', await attackSection(page, inputs, layerCount)],
    ['deployment', 'Deployment', deploySection(inputs)],
    ['reproduce', 'Reproduce', reproduceSection(inputs, meta)],
  ];
  const present = parts.filter(([, , html]) => html !== '');
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>layerlock report</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>layerlock report</h1>
<p class="sub">Which layers of the model leak the most about its private training data, what protecting them in a TEE costs, and the protected model on a device.</p>
<nav>${present.map(([id, title]) => `<a href="#${id}">${title}</a>`).join('')}</nav>
</header>
${summary(inputs)}
${present.map(([, , h]) => h).join('\n')}
</body>
</html>
`;
  return { html, charts: page.charts, sections: present.map(([id]) => id) };
}
