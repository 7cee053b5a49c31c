// The server's side of an export (layerlock import): check the device's signature and every hash,
// decrypt the protected layers with the server's X25519 key (HPKE) and write the whole model as a
// Darknet .weights file again — the proof that package → device → export → server round-trips.
import { readFile } from 'node:fs/promises';
import { getKernels } from '../kernels/index.js';
import { parseCfg } from '../nn/cfg.js';
import { Network } from '../nn/network.js';
import { decodeWeights, encodeWeights, headerByteSize, saveWeightsFile } from '../nn/weights.js';
import {
  checkLayout, checkPayloadHashes, ContainerError, HPKE_INFO, layerAad, parseManifest, sha256hex, splitContainer, verifyEd25519, type Manifest,
} from '../tee/shared/container.js';
import { hpkeOpen } from '../tee/shared/hpke.js';
import { DeployError } from './device.js';
import { atomicWrite } from '../util/fsutil.js';
import { KeyFileError, loadDeviceCert, loadServerKey } from './keys.js';

export interface ImportOptions {
  /** The export file the device wrote. */
  file: string;
  /** The server's private key (server.key). */
  key: string;
  /** The device's certificate (the export must be signed by its identity key). */
  deviceCert: string;
  /** Where to write the whole model's .weights. */
  out: string;
  /** Where to write its cfg (optional). */
  cfgOut?: string;
}

export interface ImportResult {
  weights: string;
  cfg: string | null;
  device_id: string;
  package_id: string;
  package_version: number;
  model_version: number;
  partition: Manifest['partition'];
  seen: number;
}

export async function importExport(opts: ImportOptions): Promise<ImportResult> {
  const what = opts.file;
  try {
    const server = await loadServerKey(opts.key);
    const device = await loadDeviceCert(opts.deviceCert);
    const bytes = await readFile(opts.file).catch((e: NodeJS.ErrnoException) => {
      throw new DeployError(`${opts.file}: cannot read the export: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    });
    const parts = splitContainer(bytes, what, 'export');
    if (!verifyEd25519('export', parts.signed, parts.signature, device.identity)) {
      throw new ContainerError(`${what}: the signature does not verify with device ${device.deviceId}'s identity key — tampered with, or exported by another device`);
    }
    const m = parseManifest(parts.manifestBytes, parts.header.payloadBytes, 'export', what);
    if (m.device.id !== device.deviceId) throw new ContainerError(`${what} names device ${m.device.id}, the certificate is of ${device.deviceId}`);
    if (m.server.key_id !== server.keyId) throw new ContainerError(`${what} is encrypted to server key ${m.server.key_id}, this key is ${server.keyId}`);
    const config = parseCfg(m.cfg.text, `${what} (cfg)`);
    checkLayout(m, config, headerByteSize(m.weights), what);
    checkPayloadHashes(m, parts.payload, what);
    const net = new Network(config, { kernels: getKernels(), seed: 1, maxBatch: 1 });
    const all = net.weightsLayers();
    const inside = (i: number): boolean => i >= m.partition.start && i <= m.partition.end;
    const clear = parts.payload.subarray(0, m.clear.bytes);
    decodeWeights(clear, all.filter((l) => !inside(l.index!)), `${what} (clear layers)`);
    const prot = parts.payload.subarray(m.protected.offset);
    const plain: Uint8Array[] = [encodeWeights([], { ...m.weights, seen: 0 })];
    for (const l of m.protected.layers) {
      let p: Buffer;
      try {
        p = await hpkeOpen(server.x25519Private, Buffer.from(HPKE_INFO), layerAad(m, l.index), prot.subarray(l.offset, l.offset + l.bytes));
      } catch {
        throw new ContainerError(`${what}: encrypted layer ${l.index} does not decrypt with this server key`);
      }
      if (p.length !== l.plain_bytes || sha256hex(p) !== l.plain_sha256) throw new ContainerError(`${what}: layer ${l.index} decrypts to data whose SHA-256 is not the manifest's`);
      plain.push(p);
    }
    decodeWeights(Buffer.concat(plain), all.filter((l) => inside(l.index!)), `${what} (protected layers)`);
    await saveWeightsFile(opts.out, all, { ...m.weights });
    if (opts.cfgOut) await atomicWrite(opts.cfgOut, m.cfg.text);
    return {
      weights: opts.out, cfg: opts.cfgOut ?? null, device_id: m.device.id, package_id: m.package_id, package_version: m.version,
      model_version: m.model_version!, partition: m.partition, seen: m.weights.seen,
    };
  } catch (e) {
    if (e instanceof ContainerError || e instanceof KeyFileError) throw new DeployError(e.message);
    throw e;
  }
}
