/**
 * Reading the local cluster's audit log (hack/cluster/audit-policy.yaml) for any user: write
 * counts by identity and replica, for tests and benchmarks that run the service on a cluster of
 * their own (test/support/env.ts `auditWrites` reads the suite's shared cluster).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Every line of the audit log `auditLog`, oldest first, including the files the API server rotated
 * it into (`--audit-log-maxsize`: `audit-<time>.log` beside it), so a count over a long run never
 * misses the part that was rotated away (a kill -9 round once counted 199 of 200 Job creates).
 * The last line may be half written.
 * @throws when `auditLog` does not exist.
 */
export function auditLines(auditLog: string): string[] {
  if (!existsSync(auditLog)) throw new Error(`no audit log at ${auditLog}`);
  const dir = dirname(auditLog);
  const stem = basename(auditLog, '.log');
  const rotated = readdirSync(dir)
    .filter((f) => f.startsWith(`${stem}-`) && f.endsWith('.log'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  return [...rotated, auditLog].flatMap((f) => readFileSync(f, 'utf8').split('\n'));
}

/** One write of the audit log, as {@link auditWritesOf} returns it. */
export interface AuditedWrite {
  /** `verb resource[/subresource]`, e.g. `update gpustorages/status`. */
  what: string;
  namespace?: string;
  name?: string;
  code?: number;
  /** When the API server received the request (epoch ms). */
  at: number;
  /** The client's User-Agent: `host/<HOSTNAME>` tells the service's replicas apart (src/kube/http.ts). */
  userAgent?: string;
}

/**
 * The writes (create, update, patch, delete) `user` made since `sinceMs` (epoch ms), from the
 * API server's audit log (hack/cluster/audit-policy.yaml logs every write at Metadata level).
 * Also counts the 429 answers that user got (any verb).
 */
export function auditWritesOf(auditLog: string, user: string, sinceMs: number): { writes: AuditedWrite[]; throttled: number } {
  if (!existsSync(auditLog)) throw new Error(`no audit log at ${auditLog}`);
  const writes: AuditedWrite[] = [];
  let throttled = 0;
  for (const line of auditLines(auditLog)) {
    if (!line.includes(user)) continue;
    let e: { stage: string; verb: string; user: { username: string }; requestReceivedTimestamp: string; userAgent?: string; objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string }; responseStatus?: { code?: number } };
    try {
      e = JSON.parse(line);
    } catch {
      continue; // the last line may be half written
    }
    if (e.stage !== 'ResponseComplete' || e.user.username !== user) continue;
    const at = Date.parse(e.requestReceivedTimestamp);
    if (at < sinceMs) continue;
    if (e.responseStatus?.code === 429) throttled++;
    if (!['create', 'update', 'patch', 'delete', 'deletecollection'].includes(e.verb)) continue;
    const r = e.objectRef;
    writes.push({ what: `${e.verb} ${r?.resource ?? '?'}${r?.subresource ? `/${r.subresource}` : ''}`, namespace: r?.namespace, name: r?.name, code: e.responseStatus?.code, at, userAgent: e.userAgent });
  }
  return { writes, throttled };
}

