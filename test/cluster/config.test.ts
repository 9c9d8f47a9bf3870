import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { natsServers } from '../../core/nats.js';

describe('cluster settings', () => {
  it('NATS_URL takes a comma-separated list of servers, NATS_REPLICAS defaults to 1', () => {
    const c = loadConfig({ NATS_URL: 'nats://a:4222, nats://b:4222,nats://c:4222' });
    expect(natsServers(c.natsUrl!)).toEqual(['nats://a:4222', 'nats://b:4222', 'nats://c:4222']);
    expect(c.natsReplicas).toBe(1);
    expect(loadConfig({ NATS_URL: 'nats://a:4222,nats://b:4222,nats://c:4222', NATS_REPLICAS: '3' }).natsReplicas).toBe(3);
  });

  it('refuses a bad server in the list, bad replicas, and replicas without a cluster', () => {
    expect(() => loadConfig({ NATS_URL: 'nats://a:4222,http://b' })).toThrow(/NATS_URL.*"http:\/\/b"/);
    expect(() => loadConfig({ NATS_URL: 'nats://a:4222', NATS_REPLICAS: '0' })).toThrow(/NATS_REPLICAS/);
    expect(() => loadConfig({ NATS_URL: 'nats://a:4222', NATS_REPLICAS: 'three' })).toThrow(/NATS_REPLICAS/);
    expect(() => loadConfig({ NATS_REPLICAS: '3' })).toThrow(/NATS_REPLICAS > 1 needs NATS_URL/);
  });
});
