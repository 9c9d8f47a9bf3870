import type { KvWatchEntry } from '@nats-io/kv';
import { KvWatchInclude } from '@nats-io/kv';
import type { Subscription } from '@nats-io/transport-node';
import { CapStore } from '../core/cap-store.js';
import type { ConnectionEvent } from '../core/events.js';
import type { Installation } from '../core/model.js';
import { decodeJson } from '../core/nats.js';
import { buckets, subjects } from '../core/subjects.js';
import type { RequestOf, ResponseOf } from '../ocpp/actions.js';
import { partnerUrl } from '../ocpp/partner-client.js';
import type { Authorizer, IdTagInfo } from '../south/charger-handlers.js';
import type { ChargerObserver, HandledCall, NodeDeps } from '../south/node-deps.js';
import { PartnerQueue, type QueueEntry } from './partner-queue.js';
import { PartnerSession } from './partner-session.js';
import { partnerUrlAllowed } from './partner-url-policy.js';
import type { PartnerSettings } from './partner-settings.js';
import { PartnerStore } from '../core/partner-store.js';

/**
 * The partner OCPP bridge of one node ("cloud based OCPP"): for every charger connected here whose
 * installation has `ocpp.partnerEnabled`, one partner session (an OCPP-J 1.6 client connection to the
 * partner, acting as that charger), started and stopped with the charger's session and kept in line
 * with configuration and credential changes. It observes every charger call (queueing transaction
 * messages durably before the charger hears its answer) and wraps the node's authorizer.
 */
export class PartnerBridge implements ChargerObserver {
  readonly sessions = new Map<string, PartnerSession>();
  readonly store: PartnerStore;
  readonly queue: PartnerQueue;
  readonly caps: CapStore;
  /** Chargers whose session runs on this node -> their installation. */
  private readonly connected = new Map<string, string>();
  private readonly lingering = new Map<string, NodeJS.Timeout>();
  /** Partner answers to Authorize, per installation and id tag: the fallback while it is unreachable. */
  private readonly authCache = new Map<string, { info: IdTagInfo; at: number }>();
  /** Id tags of the partner's own RemoteStartTransaction, per charger. */
  private readonly remoteStarts = new Map<string, { idTag: string; at: number }>();
  private readonly stops: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly deps: NodeDeps,
    readonly settings: PartnerSettings,
  ) {
    this.store = new PartnerStore(deps.bus.kv[buckets.north]);
    this.caps = new CapStore(deps.bus.kv[buckets.caps]);
    this.queue = new PartnerQueue(deps.bus.js, deps.bus.jsm, Math.max(60_000, settings.callTimeoutMs * 2));
    const onInstallation = (id: string): void => {
      for (const [chargerId, inst] of this.connected) if (inst === id) this.reconcile(chargerId);
    };
    const onCharger = (id: string, value: { ocpp: { webSocketPing: boolean } } | undefined, prev: { ocpp: { webSocketPing: boolean } } | undefined): void => {
      // The operator's later ping setting wins over what the partner set before.
      if (value && prev && value.ocpp.webSocketPing !== prev.ocpp.webSocketPing) {
        void this.store
          .clearConfig(id, 'WebSocketPingInterval')
          .then(() => this.reconcile(id))
          .catch(() => undefined);
      } else this.reconcile(id);
    };
    deps.cache.on('installation', onInstallation);
    deps.cache.on('charger', onCharger);
    this.stops.push(() => deps.cache.off('installation', onInstallation), () => deps.cache.off('charger', onCharger));
    const sub: Subscription = deps.bus.nc.subscribe(subjects.chargerEvent('*', '*', 'connection'), {
      callback: (err, msg) => {
        if (!err) this.onRemoteConnection(decodeJson<ConnectionEvent>(msg.data));
      },
    });
    this.stops.push(() => sub.unsubscribe());
    void this.watchCredentials();
  }

  // ---------------------------------------------------------------- ChargerObserver

  onSessionStarted(chargerId: string, installationId: string): void {
    this.connected.set(chargerId, installationId);
    const t = this.lingering.get(chargerId);
    if (t) clearTimeout(t);
    this.lingering.delete(chargerId);
    this.reconcile(chargerId);
  }

  onSessionStopped(chargerId: string): void {
    this.connected.delete(chargerId);
    if (!this.sessions.has(chargerId) || this.stopped) return;
    // Stay a little: a charger that reconnects at once keeps its partner session, and the queue drains.
    const prev = this.lingering.get(chargerId);
    if (prev) clearTimeout(prev);
    this.lingering.set(
      chargerId,
      setTimeout(() => {
        this.lingering.delete(chargerId);
        if (!this.connected.has(chargerId)) this.stopSession(chargerId);
      }, this.settings.lingerMs),
    );
  }

  async onCall(call: HandledCall): Promise<void> {
    const installation = this.deps.cache.installations.get(call.installationId);
    if (!installation?.ocpp.partnerEnabled) return;
    const session = this.sessions.get(call.chargerId);
    const enqueuedAt = new Date().toISOString();
    switch (call.action) {
      case 'StartTransaction': {
        const req = call.request as unknown as RequestOf<'StartTransaction'>;
        const res = call.response as ResponseOf<'StartTransaction'>;
        const request = { ...req, idTag: this.partnerIdTag(installation, call.chargerId, req.idTag) };
        return this.enqueue(call.chargerId, { kind: 'start', transactionId: res.transactionId, request, enqueuedAt });
      }
      case 'StopTransaction': {
        const req = call.request as unknown as RequestOf<'StopTransaction'>;
        const { idTag, ...rest } = req;
        const partnerTag = idTag === undefined ? undefined : installation.authorization.required ? idTag : installation.ocpp.defaultIdTag;
        const request = partnerTag !== undefined ? { ...rest, idTag: partnerTag } : rest;
        return this.enqueue(call.chargerId, { kind: 'stop', transactionId: req.transactionId, request, enqueuedAt });
      }
      case 'MeterValues': {
        const req = call.request as unknown as RequestOf<'MeterValues'>;
        if (req.transactionId !== undefined) return this.enqueue(call.chargerId, { kind: 'meter', transactionId: req.transactionId, request: req, enqueuedAt });
        session?.forwardLive('MeterValues', call.request);
        return;
      }
      case 'StatusNotification':
        session?.forwardLive('StatusNotification', call.request);
        return;
      case 'BootNotification':
        session?.chargerBooted();
        return;
      default:
        return;
    }
  }

  /**
   * The id tag the partner sees in StartTransaction: the charger's when the installation requires
   * authorization (the partner authorized it) or the partner started it remotely, else the
   * installation's default id tag, "" when it has none.
   */
  private partnerIdTag(installation: Installation, chargerId: string, idTag: string): string {
    if (installation.authorization.required) return idTag;
    const remote = this.remoteStarts.get(chargerId);
    if (remote && remote.idTag === idTag && Date.now() - remote.at < 10 * 60_000) return idTag;
    return installation.ocpp.defaultIdTag ?? '';
  }

  private async enqueue(chargerId: string, entry: QueueEntry): Promise<void> {
    await this.queue.enqueue(chargerId, entry);
  }

  // ---------------------------------------------------------------- authorization

  /**
   * For partner-enabled installations that require authorization, the partner decides. A partner
   * answer younger than `authCacheFreshMs` is reused (Authorize, then StartTransaction). When the
   * partner is unreachable or slow: its last answer for the tag (up to `authCacheMaxAgeMs`, unless
   * its expiryDate passed), else the installation's own allow list, else Invalid.
   */
  wrapAuthorizer(inner: Authorizer): Authorizer {
    return async (installation, idTag, chargerId) => {
      if (!installation?.ocpp.partnerEnabled || !installation.authorization.required) return inner(installation, idTag, chargerId);
      const key = `${installation.id}\u0000${idTag}`;
      const now = Date.now();
      const cached = this.authCache.get(key);
      const usable = cached && !expired(cached.info, now) ? cached : undefined;
      if (usable && now - usable.at < this.settings.authCacheFreshMs) return usable.info;
      const session = this.sessions.get(chargerId);
      if (session?.accepted) {
        try {
          const info = await session.authorize(idTag);
          this.cacheAnswer(key, info);
          return info;
        } catch (err) {
          this.deps.logger.warn({ chargerId, err: String(err) }, 'partner Authorize failed; using the fallback');
        }
      }
      if (usable && now - usable.at < this.settings.authCacheMaxAgeMs) return usable.info;
      return installation.authorization.idTags.includes(idTag) ? { status: 'Accepted' } : { status: 'Invalid' };
    };
  }

  private cacheAnswer(key: string, info: IdTagInfo): void {
    const now = Date.now();
    this.authCache.set(key, { info, at: now });
    if (this.authCache.size <= AUTH_CACHE_MAX_ENTRIES) return;
    for (const [k, v] of this.authCache) if (now - v.at >= this.settings.authCacheMaxAgeMs) this.authCache.delete(k);
    // Still too many: the oldest go first (a Map iterates in insertion order).
    for (const k of this.authCache.keys()) {
      if (this.authCache.size <= AUTH_CACHE_MAX_ENTRIES) break;
      this.authCache.delete(k);
    }
  }

  private rememberRemoteStart(chargerId: string, idTag: string): void {
    this.remoteStarts.set(chargerId, { idTag, at: Date.now() });
    const installationId = this.deps.cache.chargers.get(chargerId)?.installationId;
    if (installationId) this.cacheAnswer(`${installationId}\u0000${idTag}`, { status: 'Accepted' });
  }

  private clearAuthorizationCache(installationId: string): void {
    for (const key of this.authCache.keys()) if (key.startsWith(`${installationId}\u0000`)) this.authCache.delete(key);
  }

  // ---------------------------------------------------------------- sessions

  /** Starts, stops or refreshes a charger's partner session to match configuration. */
  private reconcile(chargerId: string): void {
    if (this.stopped) return;
    const charger = this.deps.cache.chargers.get(chargerId);
    const installation = charger ? this.deps.cache.installations.get(charger.installationId) : undefined;
    const here = this.connected.has(chargerId) || this.lingering.has(chargerId);
    const wanted =
      here && !!charger && !!installation?.ocpp.partnerEnabled && partnerUrlAllowed(partnerUrl(installation.ocpp.url, charger.serial, charger.ocpp.url) ?? '', this.settings.urlAllow);
    const session = this.sessions.get(chargerId);
    if (!wanted) {
      if (session) this.stopSession(chargerId);
      return;
    }
    if (session && session.installationId !== charger.installationId) this.stopSession(chargerId);
    const current = this.sessions.get(chargerId);
    if (current) {
      void current.refresh().catch((err: unknown) => this.deps.logger.warn({ chargerId, err: String(err) }, 'partner session refresh failed'));
      return;
    }
    const created = new PartnerSession(chargerId, charger.installationId, {
      node: this.deps,
      settings: this.settings,
      store: this.store,
      queue: this.queue,
      caps: this.caps,
      rememberRemoteStart: (id, tag) => this.rememberRemoteStart(id, tag),
      clearAuthorizationCache: (id) => this.clearAuthorizationCache(id),
    });
    this.sessions.set(chargerId, created);
    created.start();
  }

  private stopSession(chargerId: string): void {
    const s = this.sessions.get(chargerId);
    if (!s) return;
    this.sessions.delete(chargerId);
    s.stop();
  }

  /** The charger connected to another node: its partner session moves there. */
  private onRemoteConnection(evt: ConnectionEvent): void {
    if (!evt.connected || evt.nodeId === this.deps.nodeId || this.connected.has(evt.chargerId)) return;
    const t = this.lingering.get(evt.chargerId);
    if (t) clearTimeout(t);
    this.lingering.delete(evt.chargerId);
    this.stopSession(evt.chargerId);
  }

  /** North secrets changed (operator password, partner key, installation initial password). */
  private async watchCredentials(): Promise<void> {
    const kv = this.deps.bus.kv[buckets.credentials];
    for (const prefix of ['charger-north', 'inst-north']) {
      try {
        const iter = await kv.watch({ key: `${prefix}.*`, include: KvWatchInclude.UpdatesOnly });
        if (this.stopped) {
          iter.stop();
          return;
        }
        this.stops.push(() => iter.stop());
        void (async () => {
          for await (const e of iter) this.onCredential(e);
        })().catch(() => undefined);
      } catch (err) {
        this.deps.logger.warn({ err: String(err) }, 'cannot watch partner credentials');
      }
    }
  }

  private onCredential(e: KvWatchEntry): void {
    const [prefix, id] = e.key.split('.', 2) as [string, string | undefined];
    if (!id) return;
    if (prefix === 'charger-north') {
      if (this.sessions.has(id)) this.reconcile(id);
    } else {
      for (const s of this.sessions.values()) if (s.installationId === id) this.reconcile(s.chargerId);
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of this.stops.splice(0)) s();
    for (const t of this.lingering.values()) clearTimeout(t);
    this.lingering.clear();
    for (const id of [...this.sessions.keys()]) this.stopSession(id);
  }
}

const AUTH_CACHE_MAX_ENTRIES = 50_000;

function expired(info: IdTagInfo, now: number): boolean {
  return info.expiryDate !== undefined && Date.parse(info.expiryDate) <= now;
}
