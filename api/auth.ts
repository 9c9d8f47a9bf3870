import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PlatformError } from '../core/errors.js';
import type { TokenStore } from '../core/token-store.js';
import { errorBody, sendError } from './errors.js';

/** Who is calling: the operator (admin token) or an installer limited to some installations. */
export type Principal = { role: 'admin' } | { role: 'installer'; tokenId: string; installations: ReadonlySet<string> };

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export interface AuthFailureLimit {
  /** Failed attempts allowed per address and window; the next request gets 429 until the window ends. */
  max: number;
  windowMs: number;
}

export const DEFAULT_AUTH_FAILURE_LIMIT: AuthFailureLimit = { max: 10, windowMs: 60_000 };

/**
 * Counts failed authentications per client address in a fixed window. Only failures count, so a
 * busy legitimate client is never throttled; a blocked address is refused even with a valid token.
 */
export class AuthFailureLimiter {
  private readonly failures = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly limit: AuthFailureLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until the address may try again, or 0 when it is not blocked. */
  blockedFor(key: string): number {
    const entry = this.failures.get(key);
    if (!entry) return 0;
    const t = this.now();
    if (entry.resetAt <= t) {
      this.failures.delete(key);
      return 0;
    }
    return entry.count >= this.limit.max ? entry.resetAt - t : 0;
  }

  fail(key: string): void {
    const t = this.now();
    if (this.failures.size > 10_000) for (const [k, e] of this.failures) if (e.resetAt <= t) this.failures.delete(k);
    const entry = this.failures.get(key);
    if (!entry || entry.resetAt <= t) this.failures.set(key, { count: 1, resetAt: t + this.limit.windowMs });
    else entry.count += 1;
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

function bearerOf(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
  return match?.[1];
}

/** The onRequest hook of every `/api/v1` route: 429 when blocked, 401 without a valid token. */
export function authenticate(opts: { adminToken: string; tokens: TokenStore; limiter: AuthFailureLimiter }) {
  const adminDigest = opts.adminToken ? digest(opts.adminToken) : undefined;
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const blockedMs = opts.limiter.blockedFor(req.ip);
    if (blockedMs > 0) {
      reply.header('retry-after', String(Math.ceil(blockedMs / 1000)));
      await sendError(reply, 429, errorBody('TOO_MANY_REQUESTS', 'Too many failed authentication attempts; try again later'));
      return;
    }
    const token = bearerOf(req);
    if (token !== undefined) {
      if (adminDigest && timingSafeEqual(digest(token), adminDigest)) {
        req.principal = { role: 'admin' };
        return;
      }
      const record = await opts.tokens.verify(token);
      if (record) {
        req.principal = { role: 'installer', tokenId: record.id, installations: new Set(record.installations) };
        return;
      }
    }
    opts.limiter.fail(req.ip);
    reply.header('www-authenticate', 'Bearer');
    await sendError(reply, 401, errorBody('UNAUTHORIZED', token === undefined ? 'Missing bearer token' : 'Invalid bearer token'));
  };
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new PlatformError('UNAUTHORIZED');
  return req.principal;
}

export function mayAccess(p: Principal, installationId: string): boolean {
  return p.role === 'admin' || p.installations.has(installationId);
}

/**
 * Admin-only routes answer 404 to installers, like everything outside their scope: the API never
 * tells an installer what exists beyond it, and every denial has one status.
 */
export function requireAdmin(req: FastifyRequest): void {
  if (principalOf(req).role !== 'admin') throw new PlatformError('NOT_FOUND', `Route ${req.method} ${req.url.split('?')[0]} not found`);
}
