import { describe, expect, it } from 'vitest';
import { AuthThrottle, addressKey } from '../../ocpp/auth-throttle.js';
import { loadConfig, parseTrustProxy } from '../../core/config.js';

/** Issue 16: the pure parts of failed-auth throttling (the behaviour over sockets is in security-auth.test.ts). */
describe('pieces', () => {
  it('addressKey: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64 whatever the spelling', () => {
    expect(addressKey('192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:0DB8:0000:0001:1:2:3:4')).toBe('2001:db8:0:1::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });

  it('the failure table stays bounded, dropping expired entries first, then the oldest', () => {
    let now = 0;
    const limiter = new AuthThrottle({ maxFailures: 2, windowMs: 1_000, maxEntries: 100, now: () => now });
    for (let i = 0; i < 100; i++) limiter.fail(`old-${i}`);
    limiter.fail('keep');
    limiter.fail('keep');
    expect(limiter.size).toBe(100);
    expect(limiter.retryAfterMs('keep')).toBeGreaterThan(0);
    for (let i = 0; i < 10_000; i++) limiter.fail(`spray-${i}`);
    expect(limiter.size).toBe(100);
    now = 2_000;
    limiter.fail('fresh');
    expect(limiter.size).toBe(1);
  });

  it('TRUST_PROXY: off, a hop count or proxy addresses; true and garbage are refused', () => {
    expect(parseTrustProxy(undefined)).toBe(false);
    expect(parseTrustProxy('2')).toBe(2);
    expect(parseTrustProxy('10.0.0.1, 10.1.0.0/16,loopback,2001:db8::/32')).toEqual(['10.0.0.1', '10.1.0.0/16', 'loopback', '2001:db8::/32']);
    for (const bad of ['true', '0', 'proxy.example', '10.0.0.1/33', '10.0.0.0/8/1']) expect(() => parseTrustProxy(bad), bad).toThrow(/TRUST_PROXY/);
    expect(loadConfig({ TRUST_PROXY: '1' }).api.trustProxy).toBe(1);
  });

  it('server limits: defaults, and a header timeout longer than the request timeout is refused', () => {
    const c = loadConfig({});
    expect(c.api).toMatchObject({ trustProxy: false, requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxConnections: 1_024, metricsInstallationLabels: false });
    expect(c.ocppHttp).toEqual({ handshakeTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxConnections: 19_500 });
    expect(() => loadConfig({ API_REQUEST_TIMEOUT_MS: '1000', API_HEADERS_TIMEOUT_MS: '2000' })).toThrow(/API_HEADERS_TIMEOUT_MS/);
    expect(() => loadConfig({ METRICS_INSTALLATION_LABELS: 'yes' })).toThrow(/METRICS_INSTALLATION_LABELS/);
    expect(loadConfig({ METRICS_INSTALLATION_LABELS: 'on' }).api.metricsInstallationLabels).toBe(true);
  });
});
