import { EventEmitter } from 'node:events';
import type { KV } from '@nats-io/kv';
import type { Bus } from './nats.js';
import { watchBucket } from './kv-watch.js';
import type { Charger, Installation } from './model.js';
import { buckets } from './subjects.js';

export interface ConfigCacheEvents {
  installation: [id: string, value: Installation | undefined];
  charger: [id: string, value: Charger | undefined, previous: Charger | undefined];
}

/**
 * Every node's in-memory view of installations and chargers, kept current by KV watches. The OCPP
 * handshake, the charger actors and the balancer read it instead of hitting KV on every message.
 */
export class ConfigCache extends EventEmitter<ConfigCacheEvents> {
  readonly installations = new Map<string, Installation>();
  readonly chargers = new Map<string, Charger>();
  /** Charger ids per installation: `chargersOf` ran a filter over every charger of the cluster (each balancer start, twice). */
  private readonly byInstallation = new Map<string, Set<string>>();
  private readonly stops: (() => void)[] = [];

  static async start(bus: Bus): Promise<ConfigCache> {
    const cache = new ConfigCache();
    await Promise.all([
      cache.watch(bus.kv[buckets.installations], (key, value) => {
        const v = value as Installation | undefined;
        if (v) cache.installations.set(key, v);
        else cache.installations.delete(key);
        cache.emit('installation', key, v);
      }),
      cache.watch(bus.kv[buckets.chargers], (key, value) => {
        const v = value as Charger | undefined;
        const prev = cache.chargers.get(key);
        if (prev) cache.byInstallation.get(prev.installationId)?.delete(key);
        if (v) {
          cache.chargers.set(key, v);
          let ids = cache.byInstallation.get(v.installationId);
          if (!ids) cache.byInstallation.set(v.installationId, (ids = new Set()));
          ids.add(key);
        } else cache.chargers.delete(key);
        cache.emit('charger', key, v, prev);
      }),
    ]);
    return cache;
  }

  chargersOf(installationId: string): Charger[] {
    const out: Charger[] = [];
    for (const id of this.byInstallation.get(installationId) ?? []) {
      const c = this.chargers.get(id);
      if (c) out.push(c);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  stop(): void {
    for (const s of this.stops) s();
  }

  private async watch(kv: KV, apply: (key: string, value: unknown) => void): Promise<void> {
    this.stops.push(await watchBucket(kv, apply));
  }
}
