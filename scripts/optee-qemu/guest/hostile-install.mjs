// A hostile normal world on the emulated board (issue 17, milestone 4): it skips every check the
// normal world makes before an install (src/deploy/device.ts) and hands tampered packages straight to
// the layerlock TA in OP-TEE with INSTALL_ENCRYPTED. The TA must refuse each one itself, with
// TEE_ERROR_SECURITY from the trusted application and words that say what is wrong.
// usage: node hostile-install.mjs NEW.llpkg INSTALLED.llpkg SERVER.pub    (prints HOSTILE_INSTALL PASS|FAIL)
//   NEW: a newer package for this device, not installed (tampered copies of it are sent);
//   INSTALLED: the package already installed (sent again unaltered: a rollback).
// (LAYERLOCK_TEE=software LAYERLOCK_DIST=dist/src node … NEW OLD PUB DEV/tee runs it against the software TA.)
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
const L = pathToFileURL(resolve(process.env.LAYERLOCK_DIST || '/opt/layerlock/dist/src')).href;
const { openTeeContext } = await import(`${L}/tee/optee.js`);
const { TeecError } = await import(`${L}/tee/client.js`);
const P = await import(`${L}/tee/shared/protocol.js`);
const { loadServerPublic } = await import(`${L}/deploy/keys.js`);
const { verifyPackage } = await import(`${L}/deploy/package.js`);

const [pkgPath, oldPath, pubPath, storageDir] = process.argv.slice(2);
const trust = await loadServerPublic(pubPath);
const pkg = verifyPackage(readFileSync(pkgPath), trust, pkgPath);
const old = verifyPackage(readFileSync(oldPath), trust, oldPath);
const flip = (b, i) => { const c = Buffer.from(b); c[i] ^= 0x01; return c; };
const manifestAt = pkg.parts.signed.length - pkg.parts.manifestBytes.length;
const firstLayer = pkg.manifest.protected.layers[0];
const cases = [
  ['one bit of the manifest (signed region) flipped', flip(pkg.parts.signed, manifestAt + 40), pkg.parts.signature, pkg.protected, /signature does not verify/],
  ['one bit of the signature flipped', pkg.parts.signed, flip(pkg.parts.signature, 7), pkg.protected, /signature does not verify/],
  [`one bit of encrypted layer ${firstLayer.index} flipped`, pkg.parts.signed, pkg.parts.signature, flip(pkg.protected, firstLayer.offset + 100), /encrypted layer \d+ .*SHA-256 mismatch/],
  ['the protected section cut short', pkg.parts.signed, pkg.parts.signature, pkg.protected.subarray(0, pkg.protected.length - 16), /protected section of \d+ bytes/],
  ['the installed package again, unaltered (a rollback)', old.parts.signed, old.parts.signature, old.protected, /not newer than the installed package version .*rollback refused/],
];
const ctx = await openTeeContext({ tee: process.env.LAYERLOCK_TEE || 'optee', ...(storageDir ? { storageDir } : {}) });
let ok = true;
try {
  const s = await ctx.openSession(P.TA_UUID);
  const mem = (b) => ({ tmpref: { buffer: b, size: b.length } });
  for (const [what, signed, signature, prot, words] of cases) {
    const op = { paramTypes: P.paramTypes(P.TEEC_MEMREF_TEMP_INPUT, P.TEEC_MEMREF_TEMP_INPUT, P.TEEC_MEMREF_TEMP_INPUT, P.TEEC_VALUE_OUTPUT), params: [mem(signed), mem(signature), mem(prot), { value: { a: 0, b: 0 } }] };
    try {
      await s.invokeCommand(P.CMD_INSTALL_ENCRYPTED, op);
      console.log(`hostile-install: ${what}: INSTALLED as version ${op.params[3].value.a} — the TA did not refuse it`);
      ok = false;
    } catch (e) {
      const good = e instanceof TeecError && e.code === P.TEE_ERROR_SECURITY && e.origin === P.TEEC_ORIGIN_TRUSTED_APP && words.test(e.message);
      console.log(`hostile-install: ${what}: ${good ? 'refused by the TA' : 'UNEXPECTED'}: ${e.message}`);
      ok &&= good;
    }
  }
  await s.closeSession();
} finally {
  await ctx.finalizeContext();
}
console.log(ok ? 'HOSTILE_INSTALL PASS' : 'HOSTILE_INSTALL FAIL');
