// Which finished jobs of a run folder a run may reuse: those computed under an identity equal to
// the run's (identity.ts), and — for Mr/Mp jobs — from the very base model the folder's base job of
// that seed holds (the SHA-256 of its weights). Anything else is stale: it stays on disk until the
// recomputed job replaces it atomically, but it is never read into a result.
import type { NetworkConfig } from '../nn/config.js';
import { baseJobId, jobList } from './jobs.js';
import { sameIdentity, type RunIdentity } from './identity.js';
import type { JobResults } from './results.js';
import { readJobResult } from './store.js';
import type { BaseResult, LayerResult } from './worker.js';

export interface FolderJobs {
  results: JobResults;
  /** Ids of finished jobs that cannot be reused (other identity, or made from another base model). */
  stale: string[];
}

export async function loadValidJobs(dir: string, config: NetworkConfig, seeds: readonly number[], identity: RunIdentity): Promise<FolderJobs> {
  const results: JobResults = { base: new Map(), layers: new Map() };
  const stale: string[] = [];
  const jobs = jobList(config, seeds);
  for (const job of jobs) {
    if (job.kind !== 'base') continue;
    const r = await readJobResult<BaseResult>(dir, baseJobId(job.seed));
    if (r === null) continue;
    if (sameIdentity(r.identity, identity) && typeof r.weights_sha256 === 'string') results.base.set(job.seed, r);
    else stale.push(r.id);
  }
  for (const job of jobs) {
    if (job.kind === 'base') continue;
    const r = await readJobResult<LayerResult>(dir, job);
    if (r === null) continue;
    const base = results.base.get(job.seed);
    if (base !== undefined && sameIdentity(r.identity, identity) && r.base_weights_sha256 === base.weights_sha256) results.layers.set(job.id, r);
    else stale.push(r.id);
  }
  return { results, stale };
}
