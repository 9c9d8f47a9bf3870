import { isIPv6 } from 'node:net';

/**
 * Failed authentications per client address, for the OCPP handshake and the API alike, so guessing
 * passwords or tokens (each guess against an installation's initial password costs a scrypt) and
 * probing charger ids are slow. Only failures count, so a valid credential is never refused: an
 * address past `maxFailures` within `windowMs` is refused before authentication runs, until its
 * window ends. IPv6 addresses count per /64 (one host usually holds a whole /64). The table is
 * bounded: past `maxEntries` expired windows go first, then the oldest.
 */
export interface AuthThrottleOptions {
  /** 0 = no throttling. */
  maxFailures: number;
  windowMs: number;
  maxEntries?: number;
  now?: () => number;
}

interface Window {
  start: number;
  failures: number;
}

/** IPv4 (also IPv4-mapped IPv6) as is, IPv6 by its /64 whatever the spelling. */
export function addressKey(address: string): string {
  const unzoned = address.split('%')[0]!;
  const plain = /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(unzoned) ? unzoned.slice(7) : unzoned;
  if (!isIPv6(plain)) return plain;
  const [head = '', tail = ''] = plain.split('::');
  const headParts = head ? head.split(':') : [];
  const tailParts = tail ? tail.split(':') : [];
  const missing = 8 - headParts.length - tailParts.length;
  const full = [...headParts, ...Array<string>(Math.max(0, missing)).fill('0'), ...tailParts];
  return `${full.slice(0, 4).map((p) => p.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export class AuthThrottle {
  private readonly windows = new Map<string, Window>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly opts: AuthThrottleOptions) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Milliseconds until the address may try again; 0 when it may try now. */
  retryAfterMs(address: string): number {
    if (this.opts.maxFailures <= 0) return 0;
    const key = addressKey(address);
    const w = this.windows.get(key);
    if (!w) return 0;
    const left = w.start + this.opts.windowMs - this.now();
    if (left <= 0) {
      this.windows.delete(key);
      return 0;
    }
    return w.failures >= this.opts.maxFailures ? left : 0;
  }

  fail(address: string): void {
    if (this.opts.maxFailures <= 0) return;
    const key = addressKey(address);
    const now = this.now();
    const w = this.windows.get(key);
    if (w && now - w.start < this.opts.windowMs) {
      w.failures += 1;
      return;
    }
    this.windows.delete(key);
    if (this.windows.size >= this.maxEntries) this.evict(now);
    this.windows.set(key, { start: now, failures: 1 });
  }

  private evict(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.opts.windowMs) this.windows.delete(k);
    // A Map iterates in insertion order: the first keys are the oldest windows.
    for (const k of this.windows.keys()) {
      if (this.windows.size < this.maxEntries) break;
      this.windows.delete(k);
    }
  }

  get size(): number {
    return this.windows.size;
  }
}
