/**
 * The prepare digest: which attempt a Job belongs to. Source: ../shared/spec/contract.md
 * (status.prepare.observedDigest) — the original platform's digest, kept bit-for-bit so adopted
 * storages do not re-run.
 */
import { ANNOTATIONS } from './constants';
import type { GPUStorage, PrepareSpec } from './types';
import { sha256Hex } from './naming';

/**
 * First 12 hex digits of sha256 over `{"prepare":{…},"recoveryNonce":"…"}`, prepare keys in the
 * order fromImage, fromStorageName, command, args, empty ones left out, recoveryNonce left out
 * when there is none. Serialised as Go's encoding/json would (no spaces, HTML-safe escapes).
 */
export function prepareDigest(prepare: PrepareSpec, recoveryNonce?: string): string {
  const p: Record<string, unknown> = {};
  if (prepare.fromImage) p.fromImage = prepare.fromImage;
  if (prepare.fromStorageName) p.fromStorageName = prepare.fromStorageName;
  if (prepare.command && prepare.command.length > 0) p.command = prepare.command;
  if (prepare.args && prepare.args.length > 0) p.args = prepare.args;
  const doc: Record<string, unknown> = { prepare: p };
  if (recoveryNonce) doc.recoveryNonce = recoveryNonce;
  return sha256Hex(goJSON(doc)).slice(0, 12);
}

/** JSON.stringify with Go's default HTML escaping of <, >, & and U+2028/U+2029. */
function goJSON(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The recovery nonce set by the recover action, if any. */
export function recoveryNonce(storage: GPUStorage): string | undefined {
  return storage.metadata.annotations?.[ANNOTATIONS.recoveryNonce] || undefined;
}

/** The digest of the storage's current prepare attempt, or undefined without a prepare contract. */
export function currentDigest(storage: GPUStorage): string | undefined {
  const p = storage.spec.prepare;
  if (!p || (!p.fromImage && !p.fromStorageName)) return undefined;
  return prepareDigest(p, recoveryNonce(storage));
}
