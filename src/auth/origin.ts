/**
 * Browser safety: which web origins may drive the service. CORS is off unless origins are listed
 * (env CORS_ORIGINS, comma-separated, e.g. `https://console.example.com`); there is never a
 * wildcard, and no credentials mode (the service authenticates by bearer token, never cookies).
 * A state-changing request or a WebSocket upgrade that a browser sends carries an Origin header;
 * it is accepted only from the service's own origin or a listed one. Requests without an Origin
 * (curl, other services) are not browser requests and pass.
 * Source: OWASP CSRF Prevention Cheat Sheet ("Verifying Origin with standard headers"),
 * https://fetch.spec.whatwg.org/#origin-header.
 */

/** `scheme://host[:port]` of an origin string, lower-cased; undefined when it is not one. */
export function normaliseOrigin(origin: string): string | undefined {
  try {
    const u = new URL(origin);
    if (u.origin === 'null' || (u.protocol !== 'http:' && u.protocol !== 'https:')) return undefined;
    return u.origin.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Parses CORS_ORIGINS. @throws Error naming the entry that is not an origin (a wildcard is
 * refused: it would let every web page drive the service).
 */
export function parseOrigins(list: string | undefined): string[] {
  return (list ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      if (s === '*') throw new Error('CORS_ORIGINS must list origins; "*" is refused (any web page could drive the service)');
      const o = normaliseOrigin(s);
      if (!o) throw new Error(`CORS_ORIGINS: "${s}" is not an origin (expected scheme://host[:port])`);
      return o;
    });
}

/**
 * Which browser origins may use the service: its own, and those listed in CORS_ORIGINS (exact
 * origins, never `*`); the rest are refused for state-changing requests and WebSocket upgrades.
 */
export class OriginPolicy {
  private readonly allowed: Set<string>;

  constructor(origins: string[]) {
    this.allowed = new Set(origins.map((o) => normaliseOrigin(o) ?? o));
  }

  /** Origins allowed cross-origin (CORS), normalised. */
  get origins(): string[] {
    return [...this.allowed];
  }

  /** Whether `origin` may read answers cross-origin (CORS allow-list). */
  corsAllowed(origin: string | undefined): boolean {
    const o = origin ? normaliseOrigin(origin) : undefined;
    return !!o && this.allowed.has(o);
  }

  /**
   * Whether a request with this Origin header, sent to `host` (the Host header), may change
   * state or upgrade to a WebSocket: no Origin (not a browser), the same origin, or a listed one.
   * `Origin: null` (sandboxed frames, file:) is refused.
   */
  accepts(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined || origin === '') return true;
    const o = normaliseOrigin(origin);
    if (!o) return false;
    if (this.allowed.has(o)) return true;
    if (!host) return false;
    const u = new URL(o);
    try {
      return u.host === new URL(`${u.protocol}//${host.toLowerCase()}`).host;
    } catch {
      return false;
    }
  }
}
