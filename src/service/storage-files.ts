/**
 * Browsing a storage's volume through the API (issue 11, item 4): the accessor's listing and
 * files, reached through the Kubernetes API server's service proxy
 * (`/api/v1/namespaces/<ns>/services/storage-accessor-<name>:http/proxy/<path>`), so the service
 * needs no pod network of its own. The caller needs `get` on the storage (the same question as
 * reading it); the service's own identity needs `get` on `services/proxy` (deploy/rbac/operator.yaml).
 *
 * Paths are relative to the volume's root; a leading `/` names that root, so `/etc/passwd` is the
 * volume's `etc/passwd`, never the machine's. Refused with 400 before anything is asked:
 * `.` and `..` segments, empty segments (`a//b`, a leading `//`), backslashes, NUL and other control
 * characters, percent-encoded escapes left in the (already decoded) path, a segment over 255 bytes,
 * a path over 1024 bytes. The accessor being off or not Ready is 409, not a hang; the proxy's answer
 * is awaited at most 15 s (503 then).
 */
import type { Readable } from 'node:stream';
import { Readable as NodeReadable } from 'node:stream';
import { ACCESSOR_JSON_PREFIX } from '../api/constants';
import { accessorName } from '../api/naming';
import { kubeStream } from '../kube/http';
import type { GPUStorage } from '../api/types';
import type { RequestContext } from './context';
import { conflict, invalid, notFound, unavailable } from './errors';

/** Longest path accepted, in bytes (UTF-8). */
export const MAX_FILE_PATH_BYTES = 1024;
/** Longest segment accepted, in bytes (a name on ext4 and most file systems). */
export const MAX_FILE_SEGMENT_BYTES = 255;
/** How many bytes of a small text file `file(path)` returns. */
export const FILE_HEAD_BYTES = 4096;

/** One entry of a directory listing (the accessor's JSON listing). */
export interface FileEntry {
  name: string;
  /** Path from the volume's root, `/model/README.txt`; a directory's ends with `/`. */
  path: string;
  type: 'file' | 'directory' | 'other';
  /** Bytes; files only. */
  size?: number;
  /** ISO 8601. */
  modifiedAt?: string;
}

/** What `file(path)` answers: metadata and, for a small text file, its first bytes. */
export interface FileInfo {
  path: string;
  size: number;
  modifiedAt?: string;
  contentType?: string;
  /** The first {@link FILE_HEAD_BYTES} bytes as UTF-8 text, when the file is text; else undefined. */
  head?: string;
  /** True when `head` is the whole file. */
  complete: boolean;
}

/**
 * The canonical form of a caller's path: segments joined by `/` with a leading `/` (`/` for the
 * root); a directory keeps its trailing `/` when `keepTrailingSlash`.
 * @throws ValidationError 400 naming `field` for every refused form (see the module comment).
 */
export function normaliseFilePath(raw: unknown, field = 'path'): string {
  if (raw === undefined || raw === null || raw === '') return '/';
  if (typeof raw !== 'string') throw invalid(field, 'must be a string');
  if (Buffer.byteLength(raw) > MAX_FILE_PATH_BYTES) throw invalid(field, `is longer than ${MAX_FILE_PATH_BYTES} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw invalid(field, 'must not contain NUL or control characters');
  if (raw.includes('\\')) throw invalid(field, 'must not contain a backslash');
  if (/%[0-9a-fA-F]{2}/.test(raw)) throw invalid(field, 'must not contain percent-encoded escapes (send the path decoded, once)');
  if (raw.startsWith('//')) throw invalid(field, 'must be a path inside the volume, not a network path');
  const trailing = raw.length > 1 && raw.endsWith('/');
  const body = raw.replace(/^\//, '').replace(/\/$/, '');
  if (!body) return '/';
  const segments = body.split('/');
  for (const seg of segments) {
    if (seg === '') throw invalid(field, 'must not contain empty segments (//)');
    if (seg === '.' || seg === '..') throw invalid(field, `must not contain "${seg}" segments`);
    if (Buffer.byteLength(seg) > MAX_FILE_SEGMENT_BYTES) throw invalid(field, `has a segment longer than ${MAX_FILE_SEGMENT_BYTES} bytes`);
  }
  return `/${segments.join('/')}${trailing ? '/' : ''}`;
}

/** The API server's proxy path to the accessor for a normalised volume path (each segment URL-encoded). */
export function accessorProxyPath(namespace: string, storage: string, volumePath: string, json = false): string {
  const encoded = volumePath
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
  const prefix = json ? ACCESSOR_JSON_PREFIX.replace(/\/$/, '') : '';
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${accessorName(storage)}:http/proxy${prefix}${encoded}`;
}

/** The storage, when its accessor serves (the caller is authorized before). @throws 404, 409. */
function servingStorage(ctx: RequestContext, namespace: string, name: string): GPUStorage {
  const s = ctx.cache.storages.get(namespace, name);
  if (!s) throw notFound('gpustorage_not_found', `GPUStorage ${namespace}/${name} not found`);
  if (!s.spec.accessor?.enabled) throw conflict(`the accessor of storage ${namespace}/${name} is disabled; enable it (accessor.enabled: true) to browse its files`);
  const phase = s.status?.accessor?.phase ?? 'Pending';
  if (phase !== 'Ready') {
    throw conflict(`the accessor of storage ${namespace}/${name} is not Ready (${phase}${s.status?.accessor?.message ? `: ${s.status.accessor.message}` : ''}); try again when it is`);
  }
  return s;
}

/** Reading a storage's files is reading the storage: `get` on gpustorages. @throws 403. */
async function authorize(ctx: RequestContext, namespace: string, name: string): Promise<void> {
  await ctx.caller.require({ verb: 'get', resource: 'gpustorages', namespace, name });
}

async function proxied(ctx: RequestContext, method: 'GET' | 'HEAD', path: string, headers: Record<string, string> = {}) {
  try {
    return await kubeStream(ctx.kube.kc, method, path, { headers, timeoutMs: 15_000 });
  } catch (err) {
    throw unavailable(`the accessor did not answer through the API server's service proxy: ${(err as Error).message}`);
  }
}

async function failFor(res: Awaited<ReturnType<typeof kubeStream>>, namespace: string, name: string, volumePath: string): Promise<never> {
  const text = await res.text().catch(() => '');
  // The API server's own answer (a metav1.Status), not the accessor's: the proxy could not be used.
  const status = apiServerStatus(res.headers.get('content-type'), text);
  if (status) {
    if (res.status === 403) {
      throw new Error(`the service may not use the API server's service proxy (${status.message}); deploy/rbac/operator.yaml grants services/proxy get`);
    }
    // No such Service yet, or no ready endpoint behind it: the accessor is not serving.
    if (res.status === 404 || res.status === 503) throw conflict(`the accessor of storage ${namespace}/${name} is not serving yet (${status.message}); try again when it is Ready`);
    throw unavailable(`the API server's service proxy answered ${res.status}: ${status.message}`);
  }
  if (res.status === 404) throw notFound('file_not_found', `${volumePath} does not exist in storage ${namespace}/${name}`);
  if (res.status === 403) throw conflict(`${volumePath} in storage ${namespace}/${name} cannot be read by the accessor (a symbolic link, or not readable by its user)`);
  if (res.status === 503 || res.status === 502) throw unavailable(`the accessor of storage ${namespace}/${name} did not answer (${res.status})`);
  throw unavailable(`the accessor of storage ${namespace}/${name} answered ${res.status}: ${text.slice(0, 200)}`);
}

/**
 * The entries of a directory of the volume, by name (directories first is the caller's choice).
 * @throws ServiceError 400 (path), 403, 404 (storage, directory), 409 (accessor off, not Ready,
 *   not readable), 503 (no answer).
 */
export async function listStorageFiles(ctx: RequestContext, namespace: string, name: string, rawPath: unknown): Promise<FileEntry[]> {
  await authorize(ctx, namespace, name);
  const volumePath = normaliseFilePath(rawPath);
  servingStorage(ctx, namespace, name);
  const dir = volumePath.endsWith('/') ? volumePath : `${volumePath}/`;
  const res = await proxied(ctx, 'GET', accessorProxyPath(namespace, name, dir, true), { accept: 'application/json' });
  if (res.status !== 200) return await failFor(res, namespace, name, dir);
  const type = res.headers.get('content-type') ?? '';
  if (!type.includes('json')) {
    await res.body?.cancel();
    throw invalid('path', `${volumePath} is not a directory`);
  }
  const items = (await res.json()) as { name: string; type: string; size?: number; mtime?: string }[];
  return items
    .map((i): FileEntry => ({
      name: i.name,
      path: `${dir}${i.name}${i.type === 'directory' ? '/' : ''}`,
      type: i.type === 'directory' ? 'directory' : i.type === 'file' ? 'file' : 'other',
      ...(i.type === 'file' && typeof i.size === 'number' ? { size: i.size } : {}),
      ...(i.mtime ? { modifiedAt: new Date(i.mtime).toISOString() } : {}),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * A file's metadata and, when it is text, its first {@link FILE_HEAD_BYTES} bytes (one ranged GET).
 * @throws as {@link listStorageFiles}; 400 when the path is a directory.
 */
export async function statStorageFile(ctx: RequestContext, namespace: string, name: string, rawPath: unknown): Promise<FileInfo> {
  await authorize(ctx, namespace, name);
  const volumePath = normaliseFilePath(rawPath);
  if (volumePath === '/' || volumePath.endsWith('/')) throw invalid('path', `${volumePath} is a directory; list it with files(path)`);
  servingStorage(ctx, namespace, name);
  const res = await proxied(ctx, 'GET', accessorProxyPath(namespace, name, volumePath), { range: `bytes=0-${FILE_HEAD_BYTES - 1}` });
  if (res.status === 301 || res.status === 302) {
    await res.body?.cancel();
    throw invalid('path', `${volumePath} is a directory; list it with files(path)`);
  }
  if (res.status !== 200 && res.status !== 206 && res.status !== 416) return await failFor(res, namespace, name, volumePath);
  const contentType = res.headers.get('content-type') ?? undefined;
  const modified = res.headers.get('last-modified');
  const total = Number(/\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1] ?? res.headers.get('content-length') ?? 0);
  const bytes = res.status === 416 ? Buffer.alloc(0) : Buffer.from(await res.arrayBuffer());
  const head = isText(contentType, bytes) ? bytes.toString('utf8') : undefined;
  return {
    path: volumePath,
    size: res.status === 416 ? 0 : total,
    ...(modified ? { modifiedAt: new Date(modified).toISOString() } : {}),
    ...(contentType ? { contentType } : {}),
    ...(head !== undefined ? { head } : {}),
    complete: bytes.length >= total,
  };
}

function apiServerStatus(contentType: string | null, text: string): { message: string } | undefined {
  if (!contentType?.includes('application/json')) return undefined;
  try {
    const body = JSON.parse(text) as { kind?: string; message?: string };
    return body.kind === 'Status' ? { message: body.message ?? '' } : undefined;
  } catch {
    return undefined;
  }
}

function isText(contentType: string | undefined, bytes: Buffer): boolean {
  if (bytes.includes(0)) return false;
  if (contentType && /^(text\/|application\/(json|xml|yaml|x-yaml))/.test(contentType)) return true;
  // Without a telling type: valid UTF-8 (a multi-byte character cut at the end is allowed).
  const s = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  return !s.slice(0, -3).includes('\ufffd');
}

/** A file's bytes, streamed: status (200, 206), the headers to pass on, and the body. */
export interface FileStream {
  status: number;
  headers: Record<string, string>;
  body: Readable;
}

/**
 * Streams a file of the volume (REST `GET /api/v1/gpu-storages/{name}/files/{path}`), passing a
 * `Range` through; a directory answers its listing instead (`directory` set).
 * @throws as {@link listStorageFiles}.
 */
export async function streamStorageFile(
  ctx: RequestContext,
  namespace: string,
  name: string,
  rawPath: unknown,
  range?: string,
): Promise<FileStream | { directory: FileEntry[] }> {
  await authorize(ctx, namespace, name);
  const volumePath = normaliseFilePath(rawPath);
  if (volumePath === '/' || volumePath.endsWith('/')) return { directory: await listStorageFiles(ctx, namespace, name, volumePath) };
  servingStorage(ctx, namespace, name);
  const res = await proxied(ctx, 'GET', accessorProxyPath(namespace, name, volumePath), range ? { range } : {});
  if (res.status === 301 || res.status === 302) {
    await res.body?.cancel();
    return { directory: await listStorageFiles(ctx, namespace, name, `${volumePath}/`) };
  }
  if (res.status !== 200 && res.status !== 206) {
    if (res.status === 416) {
      await res.body?.cancel();
      throw invalid('range', `${range} is outside ${volumePath}`);
    }
    return await failFor(res, namespace, name, volumePath);
  }
  const headers: Record<string, string> = {};
  for (const h of ['content-type', 'content-length', 'content-range', 'last-modified', 'etag', 'accept-ranges']) {
    const v = res.headers.get(h);
    if (v) headers[h] = v;
  }
  return { status: res.status, headers, body: NodeReadable.fromWeb(res.body! as import('node:stream/web').ReadableStream) };
}
