#!/usr/bin/env node
// Builds the embedded MNIST slice (data/embedded/mnist/) from a full MNIST in IDX .gz form:
// the FIRST N training and FIRST M test images, so the slice is a documented prefix of the
// standard set rather than a random sample nobody can reproduce.
//
//   node scripts/make-embedded.mjs [sourceDir=../shared/data/mnist] [trainCount=6000] [testCount=1000]
//
// Output is deterministic (gzip level 9, no timestamp in the header), so re-running it gives
// byte-identical files.

import { readFileSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { gunzipSync, gzipSync, constants } from 'node:zlib';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = process.argv[2] ?? join(root, '..', 'shared', 'data', 'mnist');
const trainCount = Number(process.argv[3] ?? 6000);
const testCount = Number(process.argv[4] ?? 1000);
const out = join(root, 'data', 'embedded', 'mnist');

function load(name) {
  const buf = readFileSync(join(src, name));
  return buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf) : buf;
}

/** Keeps the first n items of an IDX file: same header with the count rewritten, then the data prefix. */
function slice(name, n) {
  const data = load(`${name}.gz`);
  const magic = data.readUInt32BE(0);
  const ndims = magic & 0xff;
  if (magic >>> 8 !== 0x08) throw new Error(`${name}: not an unsigned-byte IDX file`);
  const total = data.readUInt32BE(4);
  if (n > total) throw new Error(`${name}: has only ${total} items, asked for ${n}`);
  const header = 4 + 4 * ndims;
  let itemSize = 1;
  for (let i = 1; i < ndims; i++) itemSize *= data.readUInt32BE(4 + 4 * i);
  const result = Buffer.from(data.subarray(0, header + n * itemSize));
  result.writeUInt32BE(n, 4);
  const file = join(out, `${name}.gz`);
  writeFileSync(file, gzipSync(result, { level: constants.Z_BEST_COMPRESSION }));
  const size = statSync(file).size;
  console.log(`${file}: ${n} of ${total} items, ${size} bytes`);
  return size;
}

mkdirSync(out, { recursive: true });
let total = 0;
total += slice('train-images-idx3-ubyte', trainCount);
total += slice('train-labels-idx1-ubyte', trainCount);
total += slice('t10k-images-idx3-ubyte', testCount);
total += slice('t10k-labels-idx1-ubyte', testCount);
console.log(`total ${total} bytes`);
