#!/usr/bin/env node
// Records the partitioned sessions the emulated board's guest replays against the real OP-TEE TA
// (issue 17, milestone 2): every request the normal world sends and every answer the software TA
// (TypeScript) gives, in the text format of scripts/optee-qemu/host/layerlock_ta_replay.c.
// The sessions and the format are test/optee-ta-recorder.ts's (guestSessions, Recorder.guestSession);
// build the TypeScript first (npx tsc -p .).
//
//   node scripts/optee-qemu/record-session.mjs <out-file> [--capacity <bytes>]
//
// --capacity is the TA's secure memory (LAYERLOCK_SECURE_MEM of the TA build; default 12 MiB): the
// answers depend on it (GET_STATS, OUT_OF_MEMORY's words), so it must be the built TA's.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const file = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--capacity');
const at = args.indexOf('--capacity');
const capacity = at >= 0 ? Number(args[at + 1]) : 12 * 1024 * 1024;
if (!file || !Number.isSafeInteger(capacity) || capacity <= 0) {
  process.stderr.write('usage: record-session.mjs <out-file> [--capacity <bytes>]\n');
  process.exit(2);
}
let recorder;
try {
  recorder = await import(new URL('../../dist/test/optee-ta-recorder.js', import.meta.url).href);
} catch (e) {
  process.stderr.write(`record-session.mjs: cannot load dist/test/optee-ta-recorder.js (run npm ci and npx tsc -p . first): ${e.message}\n`);
  process.exit(1);
}
// the software TA's storage folder (the deployment commands are not used here)
const dir = mkdtempSync(join(tmpdir(), 'layerlock-record-'));
try {
  const t0 = performance.now();
  const rec = await recorder.guestSessions(dir, capacity);
  const text = rec.guestSession();
  writeFileSync(file, text);
  const failures = rec.replies.filter((r) => r.code !== 0).length;
  process.stdout.write(`record-session: ${rec.replies.length} replies (${failures} refusals) from the software TA, capacity ${capacity} B, ` +
    `${text.length} bytes to ${file} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
