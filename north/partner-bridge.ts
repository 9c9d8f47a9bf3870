import type { KvWatchEntry } from '@nats-io/kv';
import { KvWatchInclude } from '@nats-io/kv';
import type { Subscription } from '@nats-io/transport-node';
import type { PartnerSettings } from '../core/config.js';
import type { ConnectionEvent } from '../core/events.js';
import type { Installation } from '../core/model.js';
import { decodeJson, encodeJson } from '../core/nats.js';
import { PARTNER_DISABLED, partnerConnectionState, type PartnerConnectionState } from '../core/partner-connection.js';
import type { QueueEntry } from '../core/partner-queue.js';
import { buckets, kvKeys, subjects } from '../core/subjects.js';
import type { RequestOf } from '../ocpp/actions.js';
import { partnerUrl } from '../ocpp/partner-client.js';
import type { Authorizer, ChargerObserver, ChargerRef, IdTagInfo } from '../south/index.js';
import type { PartnerDeps } from './partner-deps.js';
import { PartnerSession } from './partner-session.js';
import { partnerUrlAllowed } from './partner-url-policy.js';

/**
 * The partner OCPP bridge of one node ("cloud based OCPP"): for every charger connected here whose
 * installation has `ocpp.partnerEnabled`, one partner session (an OCPP-J 1.6 client connection to the
 * partner, acting as that charger), started and stopped with the charger's session and kept in line
 * with configuration and credential changes. It hears what the charger side did (queueing
 * transaction messages durably before the charger hears its answer) and wraps the node's authorizer.
 * Nothing happens before `start()`.
 */
export class PartnerBridge implements ChargerObserver {
  readonly sessions = new Map<string, PartnerSession>();
  /**
   * Chargers whose session runs on this node: their installation, and when they connected here (ms;
   * a newer connection on another node takes the session).
   */
  private readonly connected = new Map<string, { installationId: string; at: number }>();
  /** Sessions stopped but still finishing a queue message: the bridge's stop waits for them. */
  private readonly draining = new Set<Promise<void>>();
  private readonly lingering = new Map<string, NodeJS.Timeout>();
  /** Partner answers to Authorize, per installation and id tag: the fallback while it is unreachable. */
  private readonly authCache = new Map<string, { info: IdTagInfo; at: number }>();
  /** Id tags of the partner's own RemoteStartTransaction, per charger. */
  private readonly remoteStarts = new Map<string, { idTag: string; at: number }>();
  private readonly stops: (() => void)[] = [];
  /** Chargers whose partner connection state this node answers: connected here, or with a session here. */
  private readonly answering = new Map<string, Subscription>();
  private stopped = false;

  constructor(private readonly deps: PartnerDeps) {}

  /** Follows configuration, credentials and the charger connections of other nodes. */
  start(): void {
    const { cache, bus } = this.deps;
    const onInstallation = (id: string): void => {
      for (const [chargerId, c] of this.connected) if (c.installationId === id) this.reconcile(chargerId);
    };
    const onCharger = (id: string, value: { ocpp: { webSocketPing: boolean } } | undefined, prev: { ocpp: { webSocketPing: boolean } } | undefined): void => {
      // The operator's later ping setting wins over what the partner set before.
      if (value && prev && value.ocpp.webSocketPing !== prev.ocpp.webSocketPing) {
        void this.deps.store
          .clearConfig(id, 'WebSocketPingInterval')
          .then(() => this.reconcile(id))
          .catch(() => undefined);
      } else this.reconcile(id);
    };
    cache.on('installation', onInstallation);
    cache.on('charger', onCharger);
    this.stops.push(() => cache.off('installation', onInstallation), () => cache.off('charger', onCharger));
    const sub: Subscription = bus.nc.subscribe(subjects.chargerEvent('*', '*', 'connection'), {
      callback: (err, msg) => {
        if (!err) this.onRemoteConnection(decodeJson<ConnectionEvent>(msg.data));
      },
    });
    this.stops.push(() => sub.unsubscribe());
    void this.watchCredentials();
  }

  private get settings(): PartnerSettings {
    return this.deps.settings;
  }

  // ---------------------------------------------------------------- ChargerObserver

  onSessionStarted(chargerId: string, installationId: string): void {
    this.connected.set(chargerId, { installationId, at: this.deps.now() });
    const t = this.lingering.get(chargerId);
    if (t) clearTimeout(t);
    this.lingering.delete(chargerId);
    this.reconcile(chargerId);
  }

  onSessionStopped(chargerId: string): void {
    this.connected.delete(chargerId);
    if (!this.sessions.has(chargerId) || this.stopped) return this.syncAnswer(chargerId);
    // Stay a little: a charger that reconnects at once keeps its partner session, and the queue drains.
    const prev = this.lingering.get(chargerId);
    if (prev) clearTimeout(prev);
    this.lingering.set(
      chargerId,
      setTimeout(() => {
        this.lingering.delete(chargerId);
        if (!this.connected.has(chargerId)) this.stopSession(chargerId);
        this.syncAnswer(chargerId);
      }, this.settings.lingerMs),
    );
  }

  /** The installation of a charger whose calls go to the partner too, else undefined. */
  private partnerInstallation(charger: ChargerRef): Installation | undefined {
    const installation = this.deps.cache.installations.get(charger.installationId);
    return installation?.ocpp.partnerEnabled ? installation : undefined;
  }

  booted(charger: ChargerRef): void {
    if (this.partnerInstallation(charger)) this.sessions.get(charger.chargerId)?.chargerBooted();
  }

  statusNotified(charger: ChargerRef, request: RequestOf<'StatusNotification'>): void {
    if (this.partnerInstallation(charger)) this.sessions.get(charger.chargerId)?.forwardLive('StatusNotification', request);
  }

  async transactionStarted(charger: ChargerRef, transactionId: number, req: RequestOf<'StartTransaction'>): Promise<void> {
    const installation = this.partnerInstallation(charger);
    if (!installation) return;
    const request = { ...req, idTag: this.partnerIdTag(installation, charger.chargerId, req.idTag) };
    await this.enqueue(charger.chargerId, { kind: 'start', transactionId, request, enqueuedAt: this.nowIso() });
  }

  async transactionStopped(charger: ChargerRef, req: RequestOf<'StopTransaction'>): Promise<void> {
    const installation = this.partnerInstallation(charger);
    if (!installation) return;
    const { idTag, ...rest } = req;
    const partnerTag = idTag === undefined ? undefined : installation.authorization.required ? idTag : installation.ocpp.defaultIdTag;
    const request = partnerTag !== undefined ? { ...rest, idTag: partnerTag } : rest;
    await this.enqueue(charger.chargerId, { kind: 'stop', transactionId: req.transactionId, request, enqueuedAt: this.nowIso() });
  }

  /** Not async: a charger of an installation without a partner is answered in the same turn (no promise per sample). */
  meterValues(charger: ChargerRef, req: RequestOf<'MeterValues'>): Promise<void> | undefined {
    if (!this.partnerInstallation(charger)) return undefined;
    // In a transaction: queued with it, in order. Outside one: live, best effort.
    if (req.transactionId !== undefined) return this.enqueue(charger.chargerId, { kind: 'meter', transactionId: req.transactionId, request: req, enqueuedAt: this.nowIso() });
    this.sessions.get(charger.chargerId)?.forwardLive('MeterValues', req);
    return undefined;
  }

  private nowIso(): string {
    return new Date(this.deps.now()).toISOString();
  }

  /**
   * The id tag the partner sees in StartTransaction: the charger's when the installation requires
   * authorization (the partner authorized it) or the partner started it remotely, else the
   * installation's default id tag, "" when it has none.
   */
  private partnerIdTag(installation: Installation, chargerId: string, idTag: string): string {
    if (installation.authorization.required) return idTag;
    const remote = this.remoteStarts.get(chargerId);
    if (remote && remote.idTag === idTag && this.deps.now() - remote.at < 10 * 60_000) return idTag;
    return installation.ocpp.defaultIdTag ?? '';
  }

  private async enqueue(chargerId: string, entry: QueueEntry): Promise<void> {
    await this.deps.queue.enqueue(chargerId, entry);
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
      const now = this.deps.now();
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
    const now = this.deps.now();
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
    this.remoteStarts.set(chargerId, { idTag, at: this.deps.now() });
    const installationId = this.deps.cache.chargers.get(chargerId)?.installationId;
    if (installationId) this.cacheAnswer(`${installationId}\u0000${idTag}`, { status: 'Accepted' });
  }

  private clearAuthorizationCache(installationId: string): void {
    for (const key of this.authCache.keys()) if (key.startsWith(`${installationId}\u0000`)) this.authCache.delete(key);
  }

  // ---------------------------------------------------------------- sessions

  /** Starts, stops or refreshes a charger's partner session to match configuration. */
  private reconcile(chargerId: string): void {
    this.reconcileSession(chargerId);
    this.syncAnswer(chargerId);
  }

  private reconcileSession(chargerId: string): void {
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
      ...this.deps,
      rememberRemoteStart: (id, tag) => this.rememberRemoteStart(id, tag),
      clearAuthorizationCache: (id) => this.clearAuthorizationCache(id),
      connectionChanged: (session) => {
        if (this.sessions.get(session.chargerId) === session) this.publishConnection(session.installationId, session.chargerId, this.connectionState(session.chargerId));
      },
    });
    this.sessions.set(chargerId, created);
    created.start();
  }

  private stopSession(chargerId: string): void {
    const s = this.sessions.get(chargerId);
    if (!s) return;
    this.sessions.delete(chargerId);
    const drained = s.stop();
    this.draining.add(drained);
    void drained.then(() => this.draining.delete(drained));
    // The state from here on is this node's view; a node that took the charger over publishes its own.
    this.publishConnection(s.installationId, chargerId, this.connectionState(chargerId));
    this.syncAnswer(chargerId);
  }

  // ---------------------------------------------------------------- connection state

  /**
   * The partner connection state of a charger as this node knows it: its session's, else why it has
   * none (`core/partner-connection.ts`).
   */
  connectionState(chargerId: string): PartnerConnectionState {
    const nodeId = this.deps.nodeId;
    const session = this.sessions.get(chargerId);
    if (session) return { ...session.connectionState(), nodeId };
    const charger = this.deps.cache.chargers.get(chargerId);
    const installation = charger ? this.deps.cache.installations.get(charger.installationId) : undefined;
    if (!charger || !installation) return partnerConnectionState('offline', { reason: 'charger not configured', nodeId });
    if (!installation.ocpp.partnerEnabled) return { ...PARTNER_DISABLED, nodeId };
    const url = partnerUrl(installation.ocpp.url, charger.serial, charger.ocpp.url);
    if (!url) return partnerConnectionState('given-up', { reason: "no usable partner URL: set the installation's URL template or the charger's own URL", nodeId });
    if (!partnerUrlAllowed(url, this.settings.urlAllow)) return partnerConnectionState('given-up', { reason: 'partner URL not allowed (PARTNER_URL_ALLOW, or an internal address)', nodeId });
    if (!this.connected.has(chargerId)) return partnerConnectionState('offline', { reason: 'charger not connected to the platform: no partner session', nodeId });
    return partnerConnectionState('connecting', { reason: 'starting the partner session', nodeId });
  }

  private publishConnection(installationId: string, chargerId: string, state: PartnerConnectionState): void {
    if (this.stopped) return;
    try {
      this.deps.bus.nc.publish(subjects.partnerConnectionChanged(installationId, chargerId), encodeJson({ chargerId, ...state }));
    } catch (err) {
      this.deps.logger.debug({ chargerId, err: String(err) }, 'partner connection state not published');
    }
  }

  /**
   * Answers the charger's partner connection state while it has a session here, or is connected (or
   * lingering) here in an installation with a partner (the API asks nothing for one without). Otherwise
   * nobody here answers: no responder then means "no node has it".
   */
  private syncAnswer(chargerId: string): void {
    const charger = this.deps.cache.chargers.get(chargerId);
    const installation = charger ? this.deps.cache.installations.get(charger.installationId) : undefined;
    const here = this.connected.has(chargerId) || this.lingering.has(chargerId);
    const wanted = !this.stopped && (this.sessions.has(chargerId) || (here && !!installation?.ocpp.partnerEnabled));
    if (!wanted) {
      this.answering.get(chargerId)?.unsubscribe();
      this.answering.delete(chargerId);
      return;
    }
    if (this.answering.has(chargerId)) return;
    const sub = this.deps.bus.nc.subscribe(subjects.partnerConnection(chargerId), {
      callback: (err, msg) => {
        if (!err) msg.respond(encodeJson(this.connectionState(chargerId)));
      },
    });
    this.answering.set(chargerId, sub);
  }

  /**
   * The charger connected to another node: its partner session moves there, now. A charger socket
   * still open here is older (the registry closes it, by the same rule): waiting for that close and
   * the linger would leave two sessions, on two nodes, at the partner and taking turns at the queue.
   */
  private onRemoteConnection(evt: ConnectionEvent): void {
    if (!evt.connected || evt.nodeId === this.deps.nodeId) return;
    const since = this.connected.get(evt.chargerId)?.at;
    if (since !== undefined && new Date(evt.at).getTime() < since) return;
    this.connected.delete(evt.chargerId);
    const t = this.lingering.get(evt.chargerId);
    if (t) clearTimeout(t);
    this.lingering.delete(evt.chargerId);
    this.stopSession(evt.chargerId);
    this.syncAnswer(evt.chargerId);
  }

  /** North secrets changed (operator password, partner key, installation initial password). */
  private async watchCredentials(): Promise<void> {
    const kv = this.deps.bus.kv[buckets.credentials];
    for (const key of kvKeys.credentials.northWatch) {
      try {
        const iter = await kv.watch({ key, include: KvWatchInclude.UpdatesOnly });
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
    const whose = kvKeys.credentials.parseNorth(e.key);
    if (!whose) return;
    const { id } = whose;
    if (whose.scope === 'charger') {
      if (this.sessions.has(id)) this.reconcile(id);
    } else {
      for (const s of this.sessions.values()) if (s.installationId === id) this.reconcile(s.chargerId);
    }
  }

  /** Resolves once every session finished the queue message it was delivering (each at most a call timeout). */
  async stop(): Promise<void> {
    if (this.stopped) return this.drain();
    this.stopped = true;
    for (const s of this.stops.splice(0)) s();
    for (const t of this.lingering.values()) clearTimeout(t);
    this.lingering.clear();
    for (const id of [...this.sessions.keys()]) this.stopSession(id);
    for (const sub of this.answering.values()) sub.unsubscribe();
    this.answering.clear();
    return this.drain();
  }

  /**
   * Bounded: a partner slow to answer (up to PARTNER_CALL_TIMEOUT_MS) or NATS gone under the ack must
   * not hold the node's shutdown past its 10 s limit; a message cut off then is sent again by the node
   * that takes the charger (as after a crash).
   */
  private async drain(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((r) => (timer = setTimeout(r, DRAIN_MAX_MS)));
    await Promise.race([Promise.all([...this.draining]), limit]);
    clearTimeout(timer);
  }
}

const AUTH_CACHE_MAX_ENTRIES = 50_000;
/** The longest a stopping bridge waits for its sessions' messages in flight (main.ts exits after 10 s). */
const DRAIN_MAX_MS = 8_000;

function expired(info: IdTagInfo, now: number): boolean {
  return info.expiryDate !== undefined && Date.parse(info.expiryDate) <= now;
}
