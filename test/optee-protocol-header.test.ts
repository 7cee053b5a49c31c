// The OP-TEE TA in C (issue 17, milestone 2) must speak src/tee/shared/protocol.ts exactly: its constants come
// from optee/ta/include/layerlock_protocol.h, generated from protocol.ts. This checks the committed header
// is current, that its values are protocol.ts's, and — when OP-TEE's headers have been built by
// scripts/optee-qemu/build.sh — that protocol.ts's GlobalPlatform result codes, parameter types and
// origins are OP-TEE's own (skipped with a note otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protocol from '../src/tee/shared/protocol.js';

const GEN = fileURLToPath(new URL('../../optee/gen-protocol-header.mjs', import.meta.url));
const HEADER = fileURLToPath(new URL('../../optee/ta/include/layerlock_protocol.h', import.meta.url));
const OUT = join(process.env.LAYERLOCK_OPTEE_CACHE ?? join(homedir(), '.cache', 'layerlock-optee'), 'out');
const TEE_API_DEFINES = join(OUT, 'optee_os', 'export-ta_arm64', 'include', 'tee_api_defines.h');
const TEE_CLIENT_API = join(OUT, 'optee_client-root', 'usr', 'include', 'tee_client_api.h');

const numbers = protocol as unknown as Record<string, unknown>;

/** `#define NAME VALUE` lines whose value is one integer literal. */
function defines(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)[uU]?\s*(?:\/\*.*)?$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

test('the committed layerlock_protocol.h is what src/tee/shared/protocol.ts generates', () => {
  const r = spawnSync(process.execPath, [GEN, '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('layerlock_protocol.h carries protocol.ts\'s UUID, command ids, flags and policies', () => {
  const text = readFileSync(HEADER, 'utf8');
  const d = defines(text);
  const cmds = Object.keys(numbers).filter((k) => k.startsWith('CMD_'));
  assert.ok(cmds.length >= 15);
  for (const k of [...cmds, 'FLAG_TRAIN', 'FLAG_INPUT_DELTA', 'FLAG_ALLOW_PLAINTEXT_EXPORT', 'FORWARD_TRAIN', 'PROTOCOL_VERSION', 'DEFAULT_TOPK']) {
    assert.equal(d.get(`LAYERLOCK_${k}`), numbers[k], k);
  }
  for (const p of protocol.OUTPUT_POLICIES) assert.equal(d.get(`LAYERLOCK_POLICY_${p.toUpperCase()}`), protocol.POLICY_IDS[p]);
  const uuid = /#define LAYERLOCK_TA_UUID \{ 0x(\w{8}), 0x(\w{4}), 0x(\w{4}), \{ ([^}]*) \} \}/.exec(text);
  assert.ok(uuid);
  const clock = uuid[4]!.split(',').map((b) => b.trim().slice(2)).join('');
  assert.equal(`${uuid[1]}-${uuid[2]}-${uuid[3]}-${clock.slice(0, 4)}-${clock.slice(4)}`, protocol.TA_UUID);
});

const haveOptee = existsSync(TEE_API_DEFINES) && existsSync(TEE_CLIENT_API);
const skip = haveOptee ? false : `OP-TEE headers not built (${TEE_API_DEFINES}); run scripts/optee-qemu/build.sh all`;
if (skip) process.stderr.write(`\n*** optee-protocol-header.test: comparison with OP-TEE's headers SKIPPED — ${skip} ***\n\n`);

test('protocol.ts\'s result codes, parameter types and origins are OP-TEE\'s own', { skip }, () => {
  const ta = defines(readFileSync(TEE_API_DEFINES, 'utf8'));
  const client = defines(readFileSync(TEE_CLIENT_API, 'utf8'));
  let compared = 0;
  for (const [name, value] of Object.entries(numbers)) {
    if (typeof value !== 'number') continue;
    if (name.startsWith('TEE_ERROR_') || name === 'TEE_SUCCESS') {
      assert.equal(ta.get(name), value >>> 0, `${name} in tee_api_defines.h`);
      // The client API spells them TEEC_ERROR_* / TEEC_SUCCESS.
      const teec = name.replace(/^TEE_/, 'TEEC_');
      if (client.has(teec)) assert.equal(client.get(teec), value >>> 0, `${teec} in tee_client_api.h`);
      compared++;
    } else if (name.startsWith('TEEC_') && client.has(name)) {
      assert.equal(client.get(name), value, `${name} in tee_client_api.h`);
      compared++;
    }
  }
  // The TA side names the parameter types TEE_PARAM_TYPE_*; protocol.ts uses the client's TEEC_* numbers.
  for (const [teec, tee] of [['TEEC_VALUE_INPUT', 'VALUE_INPUT'], ['TEEC_VALUE_OUTPUT', 'VALUE_OUTPUT'], ['TEEC_VALUE_INOUT', 'VALUE_INOUT'],
    ['TEEC_MEMREF_TEMP_INPUT', 'MEMREF_INPUT'], ['TEEC_MEMREF_TEMP_OUTPUT', 'MEMREF_OUTPUT'], ['TEEC_MEMREF_TEMP_INOUT', 'MEMREF_INOUT']] as const) {
    assert.equal(ta.get(`TEE_PARAM_TYPE_${tee}`), numbers[teec], teec);
    compared++;
  }
  assert.ok(compared >= 30, `only ${compared} constants compared`);
});
