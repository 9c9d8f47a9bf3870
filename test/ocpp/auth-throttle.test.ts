import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { addressKey, AuthThrottle } from '../../ocpp/auth-throttle.js';
import { createOcppServer, type OcppServer } from '../../ocpp/server.js';
import { handshakeStatus } from '../support/platform.js';

/** Issue 16: failed OCPP handshakes are throttled per address before the (scrypt) check runs. */

let http: Server | undefined;
let ocpp: OcppServer | undefined;
afterEach(async () => {
  await ocpp?.close();
  const server = http;
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  http = undefined;
  ocpp = undefined;
});

async function serve(maxFailures: number): Promise<{ port: number; checks: () => number }> {
  let checks = 0;
  http = createServer();
  ocpp = createOcppServer({
    httpServer: http,
    authThrottle: { maxFailures, windowMs: 60_000 },
    // Stands for the password hash: counts how often the expensive check runs.
    authenticate: async ({ password }) => {
      checks += 1;
      return password === 'right-password' ? { ok: true, context: {} } : { ok: false, reason: 'wrong password' };
    },
    onConnection: ({ rpc }) => rpc.handle(() => ({})),
  });
  await new Promise<void>((r) => http?.listen(0, '127.0.0.1', r));
  return { port: (http.address() as AddressInfo).port, checks: () => checks };
}

describe('OCPP handshake throttle', () => {
  it('after maxFailures failures an address gets 429 without the password being checked', async () => {
    const { port, checks } = await serve(3);
    for (let i = 0; i < 3; i++) expect(await handshakeStatus(port, '/ocpp/CP-1', { protocol: 'ocpp1.6', auth: `CP-1:guess-${i}` })).toBe(401);
    expect(checks()).toBe(3);
    for (let i = 0; i < 5; i++) expect(await handshakeStatus(port, '/ocpp/CP-1', { protocol: 'ocpp1.6', auth: `CP-1:guess-x${i}` })).toBe(429);
    expect(checks()).toBe(3);
  });

  it('successful handshakes do not count', async () => {
    const { port, checks } = await serve(2);
    for (let i = 0; i < 5; i++) expect(await handshakeStatus(port, '/ocpp/CP-1', { protocol: 'ocpp1.6', auth: 'CP-1:right-password' })).toBe(101);
    expect(await handshakeStatus(port, '/ocpp/CP-1', { protocol: 'ocpp1.6', auth: 'CP-1:wrong' })).toBe(401);
    expect(await handshakeStatus(port, '/ocpp/CP-1', { protocol: 'ocpp1.6', auth: 'CP-1:right-password' })).toBe(101);
    expect(checks()).toBe(7);
  });
});

describe('AuthThrottle', () => {
  it('keys IPv6 by /64 and IPv4-mapped addresses as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'));
    expect(addressKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
  });

  it('forgets a window when it ends, and keeps the table bounded', () => {
    let now = 0;
    const t = new AuthThrottle({ maxFailures: 1, windowMs: 1_000, maxEntries: 100, now: () => now });
    t.fail('10.0.0.1');
    expect(t.retryAfterMs('10.0.0.1')).toBe(1_000);
    now = 1_000;
    expect(t.retryAfterMs('10.0.0.1')).toBe(0);
    for (let i = 0; i < 1_000; i++) t.fail(`10.1.${i >> 8}.${i & 255}`);
    expect(t.size).toBeLessThanOrEqual(100);
  });
});
