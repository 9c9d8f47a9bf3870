import type { KV } from '@nats-io/kv';
import type { AvailableCurrent } from '../core/available-current-store.js';
import type { ChargerCaps } from '../core/cap-store.js';
import type { ConfigCache } from '../core/config-cache.js';
import { watchBucket } from '../core/kv-watch.js';
import { InstallationBalancer, type BalancerDeps } from './installation-balancer.js';
import { Lease } from './leadership.js';

export interface ManagerDeps extends BalancerDeps {
  nodeId: string;
  cache: ConfigCache;
  leases: KV;
  caps: KV;
  availableCurrent: KV;
  /** How long a lease lives without renewal; a crashed leader's installations move after this. */
  leaseTtlMs: number;
}

/**
 * Runs the balancers this node leads: one per installation cluster-wide, held by a KV lease that
 * another node takes over when it expires. Feeds config, caps and dynamic limits to them.
 */
export class BalancerManager {
  private readonly leases = new Map<string, Lease>();
  private readonly running = new Map<string, InstallationBalancer>();
  private readonly starting = new Set<string>();
  private readonly caps = new Map<string, ChargerCaps>();
  private readonly dynamic = new Map<string, AvailableCurrent>();
  private readonly stops: (() => void)[] = [];
  private loop: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: ManagerDeps) {}

  async start(): Promise<void> {
    const { cache } = this.deps;
    await Promise.all([
      this.watch(this.deps.caps, (key, v) => {
        const caps = (v as ChargerCaps | undefined) ?? {};
        this.caps.set(key, caps);
        const inst = cache.chargers.get(key)?.installationId;
        if (inst) this.running.get(inst)?.updateCaps(key, caps);
      }),
      this.watch(this.deps.availableCurrent, (key, v) => {
        const value = v as AvailableCurrent | undefined;
        if (value) this.dynamic.set(key, value);
        else this.dynamic.delete(key);
        this.running.get(key)?.updateDynamic(value);
      }),
    ]);
    const onInstallation = (id: string, value: unknown): void => {
      const b = this.running.get(id);
      if (!b) return void this.tick();
      if (value) b.updateInstallation(value as never);
      else void this.release(id);
    };
    const onCharger = (id: string, value: unknown, previous: unknown): void => {
      const inst = (value as { installationId?: string } | undefined)?.installationId ?? (previous as { installationId?: string } | undefined)?.installationId;
      if (inst) this.running.get(inst)?.updateCharger(id, value as never);
    };
    cache.on('installation', onInstallation);
    cache.on('charger', onCharger);
    this.stops.push(() => cache.off('installation', onInstallation), () => cache.off('charger', onCharger));
    await this.tick();
    this.loop = setInterval(() => void this.tick(), Math.max(100, Math.floor(this.deps.leaseTtlMs / 3)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.loop);
    for (const s of this.stops) s();
    await Promise.all([...this.running.keys()].map((id) => this.release(id)));
  }

  balancer(installationId: string): InstallationBalancer | undefined {
    return this.running.get(installationId);
  }

  /** Renews held leases, tries to take free ones, starts and stops balancers accordingly. */
  private async tick(): Promise<void> {
    if (this.stopped) return;
    const { cache } = this.deps;
    await Promise.all(
      [...cache.installations.keys()].map(async (id) => {
        let lease = this.leases.get(id);
        if (!lease) {
          lease = new Lease(this.deps.leases, `balancer.${id}`, this.deps.nodeId, this.deps.leaseTtlMs);
          this.leases.set(id, lease);
        }
        const held = await lease.acquireOrRenew();
        if (held && !this.running.has(id) && !this.starting.has(id)) await this.startBalancer(id);
        else if (!held && this.running.has(id)) {
          this.deps.logger.warn({ installationId: id }, 'balancer lease lost');
          await this.running.get(id)?.stop();
          this.running.delete(id);
        }
      }),
    );
    for (const id of [...this.running.keys()]) if (!cache.installations.has(id)) await this.release(id);
  }

  private async startBalancer(id: string): Promise<void> {
    const installation = this.deps.cache.installations.get(id);
    if (!installation || this.stopped) return;
    this.starting.add(id);
    try {
      const balancer = new InstallationBalancer(installation, this.deps.cache.chargersOf(id), this.deps);
      for (const c of this.deps.cache.chargersOf(id)) {
        const caps = this.caps.get(c.id);
        if (caps) balancer.updateCaps(c.id, caps);
      }
      balancer.updateDynamic(this.dynamic.get(id));
      await balancer.start();
      if (this.stopped) return void (await balancer.stop());
      this.running.set(id, balancer);
      this.deps.logger.info({ installationId: id }, 'balancer started on this node');
    } finally {
      this.starting.delete(id);
    }
  }

  private async release(id: string): Promise<void> {
    await this.running.get(id)?.stop();
    this.running.delete(id);
    await this.leases.get(id)?.release();
    this.leases.delete(id);
  }

  private async watch(kv: KV, apply: (key: string, value: unknown) => void): Promise<void> {
    this.stops.push(await watchBucket(kv, apply));
  }
}
