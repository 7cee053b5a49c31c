// layerlock report: one self-contained HTML page from result folders — a `layerlock run` folder, or
// any mix of exposure, `bench tee`, plan and attack results.
import { writeReport } from '../report/index.js';
import { emit, flag, formatHelp, parse, str, UsageError, type CommandHelp } from './common.js';

export const help: CommandHelp = {
  usage: 'RUN_DIR... [--out report.html]',
  summary: 'Write one self-contained HTML report (inline SVG charts, no scripts, printable) from result folders.',
  options: [
    ['RUN_DIR...', 'a `layerlock run` folder, exposure / bench tee / attack folders, or their JSON files (plan --json output too)'],
    ['--out FILE', 'the HTML file to write (default report.html)'],
  ],
};

export async function run(argv: string[]): Promise<void> {
  const p = parse(argv, { out: { type: 'string' } }, true);
  if (flag(p, 'help')) return void process.stdout.write(formatHelp('report', help));
  if (p.positionals.length === 0) throw new UsageError('give at least one result folder or file');
  const out = str(p, 'out') ?? 'report.html';
  const r = await writeReport(p.positionals, out, ['layerlock', 'report', ...argv].join(' '));
  emit(p, r, () => `report → ${r.path} (${Math.round(r.bytes / 1024)} KiB; sections: ${r.sections.join(', ')}; ${r.charts.length} chart${r.charts.length === 1 ? '' : 's'})`);
}
