/**
 * A shared informer: list, then watch from the list's resourceVersion, keeping an in-memory cache
 * of one resource kind and telling listeners about every change. One informer per kind serves the
 * reconcilers and every GraphQL subscriber (controller-runtime-notes W5).
 *
 * The hazards of ../shared/spec/controller-runtime-notes.md it handles:
 * - W1 silent watch: server-side `timeoutSeconds` on every watch, plus an inactivity watchdog that
 *   aborts a watch that has delivered neither event nor bookmark for `timeoutSeconds + 30 s`;
 * - W2/W3 errors and 410 Gone: one supervised loop restarts with jittered exponential backoff
 *   (honouring Retry-After), relisting only when the resourceVersion expired; relists are counted;
 * - W4 double watches: one loop per informer, a generation counter, stale callbacks ignored;
 * - W6 listeners are synchronous; a listener that throws is logged, never crashes the process;
 * - W7 updates carry the old object so callers can compare `metadata.uid`;
 * - W8 status codes through ./errors.ts; a missing CRD (404) is reported as not ready and retried;
 * - W9 list items are stamped with `apiVersion` and `kind`.
 *
 * Cached objects drop `metadata.managedFields` (controller-runtime's TransformStripManagedFields,
 * client-go's SetTransform): nothing here reads them (server-side apply keeps them on the server),
 * and they are a large part of every object held.
 */
import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { kubeRequest } from './http';
import { statusCodeOf, retryAfterSecondsOf } from './errors';
import { logger } from '../logger';
import { ALL, IndexedStore, type IndexFunc, type SortedEntry } from './store';

export * from './informer-types';
import { backoffMs, NAMESPACE_INDEX, objectKey, type InformerEvent, type InformerHealth, type InformerListener, type InformerOptions } from './informer-types';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

interface ListResponse<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/**
 * A list-watch of one kind (client-go's reflector and informer): lists, then watches from the
 * listed resourceVersion with bookmarks; restarts a silent or broken watch, relists after 410 Gone,
 * backs off while the API server is away, and reports a CRD that is not served. Holds an
 * {@link IndexedStore} and tells listeners of every ADDED, MODIFIED and DELETED, once each.
 */
export class Informer<T extends KubernetesObject> {
  private readonly cache: IndexedStore<T>;
  private readonly listeners = new Set<InformerListener<T>>();
  private readonly syncWaiters: (() => void)[] = [];
  private generation = 0;
  private abort?: AbortController;
  private resourceVersion = '';
  private synced = false;
  private lastActivity = 0;
  private restarts = 0;
  private relists = 0;
  private lastError?: string;
  private notServed = false;
  private readonly log;

  constructor(
    private readonly kc: KubeConfig,
    readonly options: InformerOptions<T>,
  ) {
    this.log = logger.child({ informer: options.kind });
    const byNamespace: IndexFunc<T> = (o) => (o.metadata?.namespace ? [o.metadata.namespace] : []);
    this.cache = new IndexedStore<T>(objectKey, { [NAMESPACE_INDEX]: byNamespace, ...options.indexers }, options.sortKey ?? ((o) => o.metadata?.name ?? ''));
  }

  /** Starts the list-watch loop. Idempotent while running. */
  start(): void {
    if (this.abort) return;
    const gen = ++this.generation;
    this.abort = new AbortController();
    void this.run(gen, this.abort.signal);
  }

  /** Stops the loop and closes the watch; the cache is kept. */
  stop(): void {
    this.generation++;
    this.abort?.abort();
    this.abort = undefined;
  }

  /** Resolves once the first list has filled the cache. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Registers a synchronous listener; returns its removal. */
  on(listener: InformerListener<T>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  /**
   * Cached objects, optionally of one namespace (through the namespace index: O(objects of the
   * namespace)). Without a namespace it copies the whole cache: use it only where every object is
   * wanted; {@link values} iterates without copying. Do not mutate the objects.
   */
  list(namespace?: string): T[] {
    return namespace ? this.cache.byIndex(NAMESPACE_INDEX, namespace) : [...this.cache.values()];
  }

  /** Every cached object, without a copy (do not mutate the objects). */
  values(): IterableIterator<T> {
    return this.cache.values();
  }

  /** How many objects are cached. */
  get size(): number {
    return this.cache.size;
  }

  /** Increases on every change of the cache (memoisation of derived data). */
  get version(): number {
    return this.cache.version;
  }

  /** Cached objects whose `index` function yields `value` (O(bucket)). @throws on an unknown index. */
  byIndex(index: string, value: string): T[] {
    return this.cache.byIndex(index, value);
  }

  /** How many cached objects `index` holds under `value` (`''` as index: all of them). */
  count(index: string, value: string): number {
    return this.cache.count(index, value);
  }

  /** Values of `index` that hold at least one object (e.g. the namespaces of {@link NAMESPACE_INDEX}). */
  indexValues(index: string): string[] {
    return this.cache.indexValues(index);
  }

  /** The keys under `value` of `index` (`''`: all objects) in sort order; cached until the bucket changes. */
  sorted(index: string, value?: string): readonly SortedEntry[] {
    return this.cache.sorted(index || ALL, value);
  }

  /** The cached object of a store key (`namespace/name`). */
  getByKey(key: string): T | undefined {
    return this.cache.get(key);
  }

  /**
   * Resolves true once the cached object `namespace/name` satisfies `pred` (it receives undefined
   * when the object is absent), or false after `timeoutMs`. Lets a write's answer wait until this
   * process's reads see it (contract: "Reads follow writes").
   */
  waitFor(namespace: string | undefined, name: string, pred: (obj: T | undefined) => boolean, timeoutMs = 10_000): Promise<boolean> {
    if (pred(this.get(namespace, name))) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(false);
      }, timeoutMs);
      const off = this.on(() => {
        if (pred(this.get(namespace, name))) {
          clearTimeout(timer);
          off();
          resolve(true);
        }
      });
    });
  }

  /** Every cached key (a copy). */
  keys(): string[] {
    return [...this.cache.keys()];
  }

  health(): InformerHealth {
    return {
      kind: this.options.kind,
      synced: this.synced,
      lastActivity: this.lastActivity ? new Date(this.lastActivity).toISOString() : undefined,
      restarts: this.restarts,
      relists: this.relists,
      lastError: this.lastError,
      ...(this.notServed ? { notServed: true } : {}),
    };
  }

  private stamp(obj: T): T {
    if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
    obj.apiVersion ??= this.options.apiVersion;
    obj.kind ??= this.options.kind;
    return obj;
  }

  /** Ends the current backoff early, when {@link retryNow} is called. */
  private wake?: () => void;

  /** Set by {@link retryNow}: the failures counted during the outage no longer apply. */
  private kicked = false;

  /** Waits out a backoff; @returns true when {@link retryNow} was called meanwhile (start the backoff afresh). */
  private async backoff(ms: number, signal: AbortSignal): Promise<boolean> {
    const woken = new AbortController();
    this.wake = () => woken.abort();
    try {
      await sleep(ms, AbortSignal.any([signal, woken.signal]));
    } finally {
      this.wake = undefined;
    }
    const kicked = this.kicked;
    this.kicked = false;
    return kicked;
  }

  /**
   * Retries a failed list/watch now instead of at the end of its backoff (which grows to 30 s
   * over a long outage). ClusterAvailability calls it when the API server answers again, so the
   * cache is live within a probe interval of the API server's return; the failures counted during
   * the outage are forgotten, so a transient 429 of the API server still starting costs 200 ms,
   * not the 13 s backoff they had grown to (issue 12: a create waited 10.5 s for the cache after
   * the API server's return before this).
   */
  retryNow(): void {
    this.kicked = true;
    this.wake?.();
  }

  private emit(event: InformerEvent<T>): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.log.error({ err }, 'informer listener threw');
      }
    }
  }

  private async run(gen: number, signal: AbortSignal): Promise<void> {
    let failures = 0;
    let needList = true;
    while (gen === this.generation && !signal.aborted) {
      try {
        if (needList) {
          await this.relist(gen, signal);
          needList = false;
        }
        const began = Date.now();
        const outcome = await this.watchOnce(gen, signal);
        if (outcome === 'gone') {
          needList = true;
          failures++;
          this.relists++;
        } else if (Date.now() - began < 1000) {
          failures++; // closed at once: back off rather than spin
        } else {
          failures = 0;
          continue; // a server-side timeout: re-watch from the last resourceVersion at once
        }
      } catch (err) {
        if (gen !== this.generation || signal.aborted) return;
        failures++;
        this.restarts++;
        const code = statusCodeOf(err);
        this.lastError = err instanceof Error ? err.message : String(err);
        if (code === 410) {
          needList = true;
          this.relists++;
        }
        this.notServed = code === 404;
        if (code === 404) this.lastError = `${this.options.kind}: the resource is not served (is its CRD installed?)`;
        const retryAfter = retryAfterSecondsOf(err);
        // A resource not served (CRD missing) is asked again every 5-10 s: slow enough not to load the
        // API server, quick enough that `kubectl apply -f crds/` takes effect within seconds.
        const delay = retryAfter ? retryAfter * 1000 : code === 404 ? Math.min(10_000, backoffMs(failures, 5000)) : backoffMs(failures, 200);
        this.log.warn({ code, delayMs: delay, err: this.lastError }, 'list/watch failed; retrying');
        if (await this.backoff(delay, signal)) failures = 0;
        continue;
      }
      if (await this.backoff(backoffMs(failures, 200), signal)) failures = 0;
    }
  }

  /** Lists the collection (paginated) and reconciles the cache with it, emitting the differences. */
  private async relist(gen: number, signal: AbortSignal): Promise<void> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await kubeRequest<ListResponse<T>>(this.kc, 'GET', this.options.path, {
        query: {
          labelSelector: this.options.labelSelector,
          fieldSelector: this.options.fieldSelector,
          limit: 500,
          continue: cont,
        },
        signal,
      });
      for (const item of page.items) fresh.set(objectKey(item), this.stamp(item));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont);
    if (gen !== this.generation) return;
    this.lastActivity = Date.now();
    this.resourceVersion = rv;
    // The store (and its indexes) is replaced first, then the differences are announced: a
    // listener reading the cache sees the list's state.
    const diff = this.cache.replace(fresh.values(), (old, obj) => old.metadata?.resourceVersion !== obj.metadata?.resourceVersion);
    for (const old of diff.deleted) this.emit({ type: 'DELETED', object: old, old });
    for (const obj of diff.added) this.emit({ type: 'ADDED', object: obj });
    for (const [old, obj] of diff.updated) this.emit({ type: 'MODIFIED', object: obj, old });
    this.lastError = undefined;
    this.notServed = false;
    if (!this.synced) {
      this.synced = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  /**
   * One watch from the current resourceVersion.
   * @returns 'closed' when the server ended it (timeout), 'gone' when the resourceVersion expired.
   * @throws on connection errors and non-200 answers.
   */
  private async watchOnce(gen: number, signal: AbortSignal): Promise<'closed' | 'gone'> {
    const base = this.options.timeoutSeconds ?? 300;
    const timeoutSeconds = Math.round(base * (0.8 + Math.random() * 0.4));
    const watch = new Watch(this.kc);
    // Inactivity watchdog (W1): client-node aborts a watch silent for this long. Bookmarks arrive
    // about once a minute, and the server closes the watch after timeoutSeconds anyway.
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = this.options.inactivityTimeoutMs ?? (timeoutSeconds + 30) * 1000;
    let gone = false;
    let ended = false;
    return await new Promise<'closed' | 'gone'>((resolve, reject) => {
      let controller: AbortController | undefined;
      const onAbort = () => controller?.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      watch
        .watch(
          this.options.path,
          {
            watch: true,
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds,
            labelSelector: this.options.labelSelector,
            fieldSelector: this.options.fieldSelector,
          },
          (type: string, obj: T & { code?: number }) => {
            if (gen !== this.generation) return; // a stale watch (W4)
            this.lastActivity = Date.now();
            if (type === 'ERROR') {
              if (obj.code === 410) gone = true;
              else this.lastError = `watch error event: ${JSON.stringify(obj)}`;
              controller?.abort();
              return;
            }
            const rv = obj.metadata?.resourceVersion;
            if (rv) this.resourceVersion = rv;
            if (type === 'BOOKMARK') return;
            this.stamp(obj);
            const key = objectKey(obj);
            const old = this.cache.get(key);
            if (type === 'DELETED') {
              this.cache.delete(key);
              this.emit({ type: 'DELETED', object: obj, old: old ?? obj });
            } else {
              this.cache.upsert(obj);
              this.emit({ type: old ? 'MODIFIED' : 'ADDED', object: obj, old });
            }
          },
          (err: unknown) => {
            ended = true;
            signal.removeEventListener('abort', onAbort);
            if (gone) resolve('gone');
            else if (err && !(err instanceof Error && err.name === 'AbortError' && signal.aborted)) reject(err);
            else resolve('closed');
          },
        )
        .then((c) => {
          controller = c;
          if (signal.aborted) c.abort();
          // The watch is established (client-node resolves after a 200 answer): the outage is over.
          else if (!ended) this.lastError = undefined;
        })
        .catch(reject);
    });
  }
}
