// What a report is made from: the result documents found in the folders (or files) it is given. A
// pipeline run folder brings all of them; an exposure, benchmark, plan or attack folder brings its
// own; any subset makes a report with the sections it can fill.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { BenchDocument } from '../bench/tee-bench.js';
import type { PlanDocument } from '../bench/plan.js';
import type { ExposureDocument } from '../exposure/results.js';
import type { PipelineManifest, StageRecord } from '../pipeline/store.js';

/** One membership-inference attack's metrics (issue 11's attack.json schema). */
export interface AttackMetrics {
  name: string;
  sees?: string[];
  auc: number;
  auc_ci95?: [number, number];
  tpr_at_fpr?: Record<string, number>;
  advantage?: number;
  /** ROC points, when the attack result carries them: [fpr, tpr] pairs (attack.json), or columns. */
  roc?: [number, number][] | { fpr: number[]; tpr: number[] };
}

export interface AttackDocument {
  /** A sweep record's partition name and label (e.g. "k3", "k=3"). */
  name?: string;
  label?: string;
  partition: { tee_layers: [number, number] | null; output?: string };
  members?: number;
  nonmembers?: number;
  attacks: AttackMetrics[];
  /** Attacks the partition refused (they need what it hides), with the reason. */
  refused?: { name: string; reason: string }[];
  victim?: { members_acc: number; nonmembers_acc: number };
  stealing?: { queries: number; surrogate_acc: number; agreement: number; victim_acc: number; blackbox_acc: number } | null;
}

export interface Named<T> {
  /** Where it came from, shown in the report (relative to the working folder). */
  source: string;
  /** A short name: the data set, or the folder. */
  name: string;
  doc: T;
}

export interface PipelineRun {
  dir: string;
  manifest: PipelineManifest;
  stages: Map<string, StageRecord>;
}

export interface ReportInputs {
  pipelines: Named<PipelineRun>[];
  exposure: Named<ExposureDocument>[];
  bench: Named<BenchDocument>[];
  plans: Named<PlanDocument>[];
  attacks: Named<AttackDocument>[];
}

type Kind = 'exposure' | 'bench' | 'plan' | 'attack' | 'sweep' | 'pipeline';

/** Recognises a result document by its shape (files may be renamed; the schema is the contract). */
export function kindOf(doc: unknown): Kind | null {
  if (Array.isArray(doc)) return doc.length > 0 && doc.every((d) => kindOf(d) === 'attack') ? 'sweep' : null;
  if (typeof doc !== 'object' || doc === null) return null;
  const d = doc as Record<string, unknown>;
  if (d['format'] === 'layerlock-pipeline/1') return 'pipeline';
  if (Array.isArray(d['layers']) && typeof d['options'] === 'object' && typeof d['base'] === 'object') return 'exposure';
  if (Array.isArray(d['configs']) && typeof d['anova'] === 'object') return 'bench';
  if (Array.isArray(d['ranges']) && 'recommended' in d && typeof d['why'] === 'string') return 'plan';
  if (Array.isArray(d['attacks']) && typeof d['partition'] === 'object') return 'attack';
  for (const key of ['partitions', 'records', 'results', 'sweep']) {
    const v = d[key];
    if (Array.isArray(v) && v.length > 0 && v.every((x) => kindOf(x) === 'attack')) return 'sweep';
  }
  return null;
}

function sweepRecords(doc: unknown): AttackDocument[] {
  if (Array.isArray(doc)) return doc as AttackDocument[];
  const d = doc as Record<string, unknown>;
  for (const key of ['partitions', 'records', 'results', 'sweep']) if (Array.isArray(d[key])) return d[key] as AttackDocument[];
  return [];
}

/** The name of a data location for legends: the folder's name, never a machine path. */
export function dataName(location: string): string {
  return location === 'embedded' ? 'embedded MNIST' : basename(location.replace(/\/+$/, '')) || location;
}

const KNOWN_FILES = ['pipeline.json', 'exposure.json', 'bench.json', 'plan.json', 'sweep.json', 'attack.json'];

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not a JSON result (${(e as Error).message.split('\n')[0]})`);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

async function loadPipeline(dir: string, manifest: PipelineManifest): Promise<PipelineRun> {
  const stages = new Map<string, StageRecord>();
  const sdir = join(dir, 'stages');
  for (const f of (await readdir(sdir).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort()) {
    const rec = (await readJson(join(sdir, f))) as StageRecord;
    stages.set(rec.name, rec);
  }
  return { dir, manifest, stages };
}

/**
 * Reads every result under the given paths: a file is read as one document; a folder contributes the
 * known files in it and in its direct sub-folders (a pipeline run keeps them one level down).
 */
export async function loadInputs(paths: readonly string[]): Promise<ReportInputs> {
  const inputs: ReportInputs = { pipelines: [], exposure: [], bench: [], plans: [], attacks: [] };
  const seen = new Set<string>();
  const add = async (file: string, doc: unknown, label: string): Promise<boolean> => {
    const abs = resolve(file);
    if (seen.has(abs)) return true;
    const kind = kindOf(doc);
    if (!kind) return false;
    seen.add(abs);
    switch (kind) {
      case 'pipeline': {
        const run = await loadPipeline(resolve(file, '..'), doc as PipelineManifest);
        inputs.pipelines.push({ source: file, name: label, doc: run });
        break;
      }
      case 'exposure': {
        const e = doc as ExposureDocument;
        inputs.exposure.push({ source: file, name: dataName((e.options as { data_location?: string }).data_location ?? e.options.data), doc: e });
        break;
      }
      case 'bench':
        inputs.bench.push({ source: file, name: label, doc: doc as BenchDocument });
        break;
      case 'plan':
        inputs.plans.push({ source: file, name: label, doc: doc as PlanDocument });
        break;
      case 'attack':
        inputs.attacks.push({ source: file, name: label, doc: doc as AttackDocument });
        break;
      case 'sweep':
        // A sweep's records leave out the ROC points; its partitions/<name>/attack.json keep them.
        for (const [i, r] of sweepRecords(doc).entries()) {
          const full = r.name ? join(resolve(file, '..'), 'partitions', r.name, 'attack.json') : null;
          const rocs = full && (await exists(full)) ? ((await readJson(full)) as AttackDocument).attacks : [];
          const attacks = r.attacks.map((a) => ({ ...a, ...(rocs.find((x) => x.name === a.name)?.roc ? { roc: rocs.find((x) => x.name === a.name)!.roc! } : {}) }));
          inputs.attacks.push({ source: `${file}#${i}`, name: label, doc: { ...r, attacks } });
        }
        break;
    }
    return true;
  };
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch {
      throw new Error(`${p}: no such file or folder`);
    }
    if (st.isFile()) {
      // A result file keeps its folder's name (bench.json of tee-cost-mnist is "tee-cost-mnist").
      const label = KNOWN_FILES.includes(basename(p)) ? basename(resolve(p, '..')) : basename(p).replace(/\.json$/, '');
      if (!(await add(p, await readJson(p), label))) throw new Error(`${p}: not a layerlock result (exposure, bench, plan, attack or pipeline document)`);
      continue;
    }
    const label = basename(resolve(p));
    let found = 0;
    const dirs = [p, ...(await readdir(p, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => join(p, d.name)).sort()];
    // A sweep's folder also holds one attack.json per partition: the sweep already brings those.
    for (const d of dirs) {
      for (const f of KNOWN_FILES) {
        const file = join(d, f);
        if (!(await exists(file))) continue;
        if (f === 'attack.json' && (await exists(join(d, 'sweep.json')))) continue;
        if (await add(file, await readJson(file), d === p ? label : `${label}/${basename(d)}`)) found++;
      }
    }
    if (found === 0) throw new Error(`${p}: no layerlock results in it (looked for ${KNOWN_FILES.join(', ')} here and one folder down)`);
  }
  // A pipeline run's attack.json files inside its sweep folder are skipped above; ones listed twice
  // (the folder and its sweep given separately) are de-duplicated by path.
  return inputs;
}
