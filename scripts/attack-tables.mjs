// Markdown tables from a sweep.json: membership inference per partition and attack, and stealing.
import { readFileSync } from 'node:fs';
const s = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const f = (x, d = 3) => x.toFixed(d);
const names = ['loss', 'confidence', 'label-only', 'whitebox', 'substitute'];
console.log(`| partition | what leaves the TEE | ${names.join(' | ')} |`);
console.log(`|---|---|${names.map(() => '---').join('|')}|`);
for (const r of s.partitions) {
  const p = r.partition;
  const what = p.tee_layers ? `${p.tee_layers[0]}:${p.tee_layers[1]}, ${p.sees.includes('scores') ? 'scores' : 'top-1 label'}` : 'everything';
  const cells = names.map((n) => { const a = r.attacks.find((x) => x.name === n); return a ? `${f(a.auc)} [${f(a.auc_ci95[0])}, ${f(a.auc_ci95[1])}]` : 'refused'; });
  console.log(`| ${r.label} | ${what} | ${cells.join(' | ')} |`);
}
console.log();
console.log(`| partition | ${names.map((n) => `${n} TPR@1%FPR`).join(' | ')} |`);
console.log(`|---|${names.map(() => '---').join('|')}|`);
for (const r of s.partitions) {
  const cells = names.map((n) => { const a = r.attacks.find((x) => x.name === n); return a ? `${f(a.tpr_at_fpr['0.01'], 4)} [${f(a.tpr_at_fpr_ci95['0.01'][0], 4)}, ${f(a.tpr_at_fpr_ci95['0.01'][1], 4)}]` : '—'; });
  console.log(`| ${r.label} | ${cells.join(' | ')} |`);
}
// A sweep run without --steal has no stealing results: its third table is left out.
if (s.partitions.some((r) => r.stealing)) {
console.log();
console.log('| partition | rebuilt layers | surrogate acc | agreement | black box acc (agreement) | victim acc | victim acc members / non-members | partition s |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of s.partitions) {
  const t = r.stealing;
  if (!t) continue;
  const pc = (x) => `${(100 * x).toFixed(2)} %`;
  console.log(`| ${r.label} | ${t.rebuilt_layers.join(', ') || '—'} | ${pc(t.surrogate_acc)} | ${pc(t.agreement)} | ${pc(t.blackbox_acc)} (${pc(t.blackbox_agreement)}) | ${pc(t.victim_acc)} | ${pc(r.victim.members_acc)} / ${pc(r.victim.nonmembers_acc)} | ${r.seconds.toFixed(0)} |`);
}
}
