import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PlatformError } from '../core/errors.js';
import type { TokenStore } from '../core/token-store.js';
import type { AuthThrottle, AuthThrottleOptions } from '../ocpp/auth-throttle.js';
import { errorBody, sendError } from './errors.js';

/** Who is calling: the operator (admin token) or an installer limited to some installations. */
export type Principal = { role: 'admin' } | { role: 'installer'; tokenId: string; installations: ReadonlySet<string> };

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** Failed attempts allowed per client and window; further failures get 429 until the window ends. */
export type AuthFailureLimit = Omit<AuthThrottleOptions, 'now'>;

export const DEFAULT_AUTH_FAILURE_LIMIT: AuthFailureLimit = { maxFailures: 10, windowMs: 60_000 };

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

function bearerOf(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
  return match?.[1];
}

/** The onRequest hook of every `/api/v1` route: a valid token passes; a failure gets 401, or 429 past the limit. */
export function authenticate(opts: { adminToken: string; tokens: TokenStore; limiter: AuthThrottle }) {
  const adminDigest = opts.adminToken ? digest(opts.adminToken) : undefined;
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
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
    // Only failures are counted and refused: a valid token passes whatever its address did before.
    const blockedMs = opts.limiter.retryAfterMs(req.ip);
    if (blockedMs > 0) {
      reply.header('retry-after', String(Math.ceil(blockedMs / 1000)));
      await sendError(reply, 429, errorBody('TOO_MANY_REQUESTS', 'Too many failed authentication attempts; try again later'));
      return;
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
