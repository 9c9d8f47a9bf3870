import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
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
  /** Failed attempts allowed per client and window; further failures get 429 until the window ends. */
  max: number;
  windowMs: number;
  /** Clients tracked at once (default 10,000); past it, expired entries go first, then the oldest. */
  maxEntries?: number;
}

export const DEFAULT_AUTH_FAILURE_LIMIT: AuthFailureLimit = { max: 10, windowMs: 60_000 };

/**
 * The key failures are counted under: the IPv4 address, or the /64 of an IPv6 address (one host
 * usually holds a whole /64, so per-address counting would give it 2^64 tries).
 */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail = ''] = ip.split('%')[0]!.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * Counts failed authentications per client in a fixed window. Only failures count and only
 * failures are refused: a valid token always passes, so nobody can lock the operator, the
 * installers or an energy manager out by failing from their address (or their proxy's).
 */
export class AuthFailureLimiter {
  private readonly failures = new Map<string, { count: number; resetAt: number }>();

  private readonly maxEntries: number;

  constructor(
    private readonly limit: AuthFailureLimit,
    private readonly now: () => number = Date.now,
  ) {
    this.maxEntries = limit.maxEntries ?? 10_000;
  }

  /** Milliseconds until the client may fail again without a 429, or 0 when it is not blocked. */
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
    const entry = this.failures.get(key);
    if (entry && entry.resetAt > t) {
      entry.count += 1;
      return;
    }
    this.failures.delete(key);
    if (this.failures.size >= this.maxEntries) this.evict(t);
    this.failures.set(key, { count: 1, resetAt: t + this.limit.windowMs });
  }

  /** Clients tracked now (for tests and the bound). */
  get size(): number {
    return this.failures.size;
  }

  private evict(t: number): void {
    for (const [k, e] of this.failures) if (e.resetAt <= t) this.failures.delete(k);
    // Insertion order is window-start order: the oldest windows go first.
    for (const k of this.failures.keys()) {
      if (this.failures.size < this.maxEntries) break;
      this.failures.delete(k);
    }
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

function bearerOf(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
  return match?.[1];
}

/** The onRequest hook of every `/api/v1` route: a valid token passes; a failure gets 401, or 429 past the limit. */
export function authenticate(opts: { adminToken: string; tokens: TokenStore; limiter: AuthFailureLimiter }) {
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
    const key = clientKey(req.ip);
    const blockedMs = opts.limiter.blockedFor(key);
    if (blockedMs > 0) {
      reply.header('retry-after', String(Math.ceil(blockedMs / 1000)));
      await sendError(reply, 429, errorBody('TOO_MANY_REQUESTS', 'Too many failed authentication attempts; try again later'));
      return;
    }
    opts.limiter.fail(key);
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
