// layerlock report: the result folders (or files) → one self-contained HTML page (report/html.ts).
import { atomicWrite } from '../util/fsutil.js';
import { codeRevision, layerlockVersion } from '../pipeline/store.js';
import { renderReport, type ChartInfo } from './html.js';
import { loadInputs, type ReportInputs } from './load.js';

export { loadInputs, kindOf, dataName, type ReportInputs, type AttackDocument, type AttackMetrics } from './load.js';
export { renderReport, namespaceSvgIds, type ChartInfo, type ReportMeta } from './html.js';

export interface ReportResult {
  path: string;
  bytes: number;
  /** The sections the inputs could fill, in page order. */
  sections: string[];
  charts: ChartInfo[];
  inputs: { pipelines: number; exposure: number; bench: number; plans: number; attacks: number };
}

function counts(i: ReportInputs): ReportResult['inputs'] {
  return { pipelines: i.pipelines.length, exposure: i.exposure.length, bench: i.bench.length, plans: i.plans.length, attacks: i.attacks.length };
}

/** Reads the results under `paths` and writes the report to `out` (atomically). */
export async function writeReport(paths: readonly string[], out: string, command?: string): Promise<ReportResult> {
  const inputs = await loadInputs(paths);
  const { html, charts, sections } = await renderReport(inputs, {
    generatedAt: new Date().toISOString(), version: layerlockVersion(), revision: codeRevision(), command: command ?? null,
  });
  await atomicWrite(out, html);
  return { path: out, bytes: Buffer.byteLength(html), sections, charts, inputs: counts(inputs) };
}
