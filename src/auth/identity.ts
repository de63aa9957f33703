/**
 * Who is asking: the user a bearer token stands for, as the cluster's authenticator reports it
 * (authentication.k8s.io/v1 UserInfo), and the anonymous user of requests without a token.
 * Source: https://kubernetes.io/docs/reference/access-authn-authz/authentication/ ("Anonymous requests").
 */
import { UnauthenticatedError } from '../service/errors';

/** authentication.k8s.io/v1 UserInfo: the identity RBAC decides for. */
export interface UserInfo {
  /** e.g. `system:serviceaccount:tenant-a:app`, `alice@example.com`, `system:anonymous`. */
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** The user of a request without a token, as the API server names it. */
export const ANONYMOUS: UserInfo = Object.freeze({ username: 'system:anonymous', groups: ['system:unauthenticated'] });

/** True for {@link ANONYMOUS} (by name: a token can never authenticate as system:anonymous). */
export function isAnonymous(user: UserInfo): boolean {
  return user.username === ANONYMOUS.username;
}

/**
 * The bearer token of an `Authorization` header value, or undefined when there is none.
 * @throws UnauthenticatedError for a header that is present but not `Bearer <token>` (a typo
 *   must not silently turn the caller anonymous).
 */
export function bearerToken(header: string | undefined | null): string | undefined {
  if (header === undefined || header === null || header.trim() === '') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header.trim());
  if (!m) throw new UnauthenticatedError('the Authorization header must be "Bearer <token>"');
  return m[1];
}
