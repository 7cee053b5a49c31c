// Content-addressed files in Redis: the coordinator publishes the cfg text and each seed's base
// model under their SHA-256, workers fetch them by hash and verify it, so no worker needs a shared
// folder or trusts a path from the queue. Running Mr/Mp jobs keep their latest per-epoch
// checkpoint here too, so a job whose worker died continues on another machine.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { KEY_PREFIX } from './payload.js';

/** Blobs outlive a run by a month (a later run with the same model reuses them). */
const BLOB_TTL_SECONDS = 30 * 24 * 3600;
/** A checkpoint nobody resumed within a week is of no use any more. */
const CKPT_TTL_SECONDS = 7 * 24 * 3600;

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const blobKey = (sha: string): string => `${KEY_PREFIX}:blob:${sha}`;
const ckptKey = (queueJobId: string): string => `${KEY_PREFIX}:ckpt:${queueJobId}`;

/** Stores bytes under their hash (once; publishing again only refreshes the expiry). */
export async function publishBlob(redis: Redis, bytes: Uint8Array | string): Promise<string> {
  const sha = sha256(bytes);
  const key = blobKey(sha);
  const set = await redis.set(key, Buffer.from(bytes), 'EX', BLOB_TTL_SECONDS, 'NX');
  if (set === null) await redis.expire(key, BLOB_TTL_SECONDS);
  return sha;
}

export async function fetchBlob(redis: Redis, sha: string): Promise<Buffer> {
  const bytes = await redis.getBuffer(blobKey(sha));
  if (bytes === null) throw new Error(`the queue has no file with SHA-256 ${sha.slice(0, 12)}… (expired or deleted; run the coordinator command again to publish it)`);
  if (sha256(bytes) !== sha) throw new Error(`the queue's file ${sha.slice(0, 12)}… does not match its SHA-256 (corrupted); refusing it`);
  return bytes;
}

export async function saveCheckpoint(redis: Redis, queueJobId: string, bytes: Uint8Array): Promise<void> {
  await redis.set(ckptKey(queueJobId), Buffer.from(bytes), 'EX', CKPT_TTL_SECONDS);
}

export async function loadCheckpoint(redis: Redis, queueJobId: string): Promise<Buffer | null> {
  return redis.getBuffer(ckptKey(queueJobId));
}

export async function deleteCheckpoint(redis: Redis, queueJobId: string): Promise<void> {
  await redis.del(ckptKey(queueJobId));
}
