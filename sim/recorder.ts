import type { PhaseCurrents } from '../core/model.js';
import { PHASES } from '../core/model.js';
import { achievableCurrent, type CarDemand } from './capacity.js';
import type { SimCharger } from './charger.js';
import { PILOT_MIN_A } from './ev.js';
import { type Site, type SiteListener } from './site.js';
import { newSeries, pushStep as push, type ChargerTrack, type OrderingViolation, type OvershootEpisode, type PhaseTrack, type ReclaimEpisode, type RecorderOptions, type SessionTrack, type SiteTrack } from './trace.js';

export type { ChargerTrack, OrderingViolation, OvershootEpisode, PhaseTrack, ReclaimEpisode, RecorderOptions, Series, SessionTrack, SiteTrack } from './trace.js';

const EPS = 0.01;

/**
 * Records what happens during a run and accumulates the metrics exactly: every quantity is piecewise
 * constant between two changes, and each change integrates the interval that just ended.
 */
export class Recorder implements SiteListener {
  readonly sites = new Map<string, SiteTrack>();
  readonly chargers = new Map<string, ChargerTrack>();
  readonly episodes: OvershootEpisode[] = [];
  readonly reclaims: ReclaimEpisode[] = [];
  readonly orderingViolations: OrderingViolation[] = [];
  readonly notes: string[] = [];
  private readonly siteOf = new Map<string, Site>();
  /** Scheduler time of scenario time 0; every recorded time is relative to it. */
  private origin = 0;

  constructor(private readonly opts: RecorderOptions) {}

  /** Starts recording: `t0` (scheduler time) becomes scenario time 0. */
  begin(t0: number, sites: readonly Site[]): void {
    this.origin = t0;
    for (const s of sites) this.addSite(s);
  }

  private addSite(site: Site): void {
    const zero = (): PhaseCurrents => ({ L1: 0, L2: 0, L3: 0 });
    const phases: Record<string, PhaseTrack> = {};
    for (const p of PHASES) {
      phases[p] = {
        current: newSeries(),
        fuse: newSeries(),
        known: newSeries(),
        commanded: newSeries(),
        base: newSeries(),
        allocated: newSeries(),
        overPeakA: 0,
        overAs: 0,
        overS: 0,
        platformPeakA: 0,
        platformAs: 0,
        platformS: 0,
        platformFlag: false,
        episodeStart: undefined,
        episodePeak: 0,
        episodePlatformAs: 0,
      };
    }
    this.sites.set(site.id, {
      id: site.id,
      phases,
      lastT: 0,
      snapshot: { current: zero(), fuse: { ...site.fuse }, known: site.knownLimit(), commanded: zero(), chargerSum: zero(), achievable: 0 },
      deliveredAs: 0,
      achievableAs: 0,
      knownHistory: [{ t: 0, k: site.knownLimit() }],
      capacityCache: new Map(),
    });
    this.siteOf.set(site.id, site);
    for (const c of site.chargers) {
      this.chargers.set(c.id, {
        id: c.id,
        site: site.id,
        min: c.minCurrent,
        priority: c.spec.priority ?? 0,
        profiles: 0,
        profileLog: [],
        offersInGap: 0,
        pauses: 0,
        resumes: 0,
        commanded: newSeries(),
        draw: newSeries(),
        demand: newSeries(),
        sessions: [],
        underDraw: undefined,
      });
    }
    this.siteChanged(site, this.origin);
  }

  // ---- hooks ----

  profileReceived(c: SimCharger, tAbs: number, limitA: number | undefined): void {
    const track = this.chargers.get(c.id);
    if (!track) return;
    const t = tAbs - this.origin;
    track.profiles++;
    track.profileLog.push({ t, limit: limitA });
    if (limitA !== undefined && limitA > EPS && limitA < track.min - 1e-6) {
      track.offersInGap++;
      this.notes.push(`${c.id}: offer ${limitA} A in (0, ${track.min}) at ${(t / 1000).toFixed(1)} s`);
    }
  }

  profileAnswered(c: SimCharger, _t: number, status: string): void {
    const track = this.chargers.get(c.id);
    const last = track?.profileLog[track.profileLog.length - 1];
    if (last && last.status === undefined) last.status = status;
  }

  commandedChanged(c: SimCharger, tAbs: number, before: number, after: number, byPlatform: boolean): void {
    const track = this.chargers.get(c.id);
    const site = this.siteOf.get(track?.site ?? '');
    if (!track || !site) return;
    const t = tAbs - this.origin;
    const session = track.sessions[track.sessions.length - 1];
    if (c.car && session?.startT !== undefined) {
      if (before >= PILOT_MIN_A && after < PILOT_MIN_A) track.pauses++;
      else if (before < PILOT_MIN_A && after >= PILOT_MIN_A && track.pauses > track.resumes) track.resumes++;
    }
    // A 1/3-phase switch: counted per session; to more phases it raises the load as an increase does.
    const phases = c.outlet.commandedPhases;
    const widened = session !== undefined && c.car !== undefined && session.departT === undefined && phases !== session.phasesInForce && phases > session.phasesInForce;
    if (session && c.car && session.departT === undefined && phases !== session.phasesInForce) {
      session.phaseSwitches++;
      session.phasesInForce = phases;
    }
    if (after > EPS && after < track.min - 1e-6) track.offersInGap++;
    if (byPlatform && (after > before || widened) && c.car) this.checkIncrease(site, c, t, after);
    this.siteChanged(site, tAbs);
  }

  sessionChanged(c: SimCharger, tAbs: number, event: 'arrived' | 'started' | 'departed'): void {
    const track = this.chargers.get(c.id);
    if (!track) return;
    const t = tAbs - this.origin;
    if (event === 'arrived') {
      track.sessions.push({ charger: c.id, mask: ownMask(c), arriveT: t, longestWaitMs: 0, phaseSwitches: 0, phasesInForce: c.outlet.commandedPhases });
    }
    const s = track.sessions[track.sessions.length - 1];
    if (!s) return;
    if (event === 'started' && s.startT === undefined) s.startT = t;
    if (event === 'departed') {
      this.closeWait(s, t);
      s.departT = t;
      this.closeUnderDraw(track, t, false);
    }
  }

  /** A sample of the balancer's own view (its committed load per phase). */
  allocationSample(siteId: string, tAbs: number, allocated: PhaseCurrents): void {
    const site = this.sites.get(siteId);
    if (!site) return;
    const t = tAbs - this.origin;
    for (const p of PHASES) push(site.phases[p]!.allocated, t, Math.round(allocated[p] * 10) / 10);
  }

  // ---- the core: integrate, then take the new state ----

  siteChanged(site: Site, tAbs: number): void {
    const track = this.sites.get(site.id);
    if (!track) return;
    const t = tAbs - this.origin;
    this.integrate(track, t);
    const snap = track.snapshot;
    const known = site.knownLimit();
    const lastKnown = track.knownHistory[track.knownHistory.length - 1]!.k;
    if (PHASES.some((p) => lastKnown[p] !== known[p])) track.knownHistory.push({ t, k: known });
    snap.known = known;
    snap.fuse = { ...site.fuse };
    snap.current = site.gridCurrents();
    snap.chargerSum = { L1: snap.current.L1 - site.base.L1, L2: snap.current.L2 - site.base.L2, L3: snap.current.L3 - site.base.L3 };
    snap.commanded = commandedLoad(site);
    snap.achievable = this.achievable(track, site, tAbs);
    for (const p of PHASES) {
      const ph = track.phases[p]!;
      // A platform-caused episode lasts until its plan is safe again and the phase is back under the fuse.
      if (ph.platformFlag && snap.commanded[p] <= known[p] + EPS && snap.current[p] <= snap.fuse[p] + EPS) ph.platformFlag = false;
      push(ph.current, t, round2(snap.current[p]));
      push(ph.fuse, t, snap.fuse[p]);
      push(ph.known, t, round2(known[p]));
      push(ph.commanded, t, round2(snap.commanded[p]));
      push(ph.base, t, round2(site.base[p]));
      const over = snap.current[p] - snap.fuse[p] > EPS;
      if (over && ph.episodeStart === undefined) {
        ph.episodeStart = t;
        ph.episodePeak = 0;
        ph.episodePlatformAs = 0;
      } else if (!over && ph.episodeStart !== undefined) this.closeEpisode(site.id, p, ph, t);
    }
    for (const c of site.chargers) this.trackCharger(site, c, t, tAbs);
  }

  /** Ends the run: integrates up to `t` and closes whatever is open. */
  finish(t: number): void {
    for (const [id, track] of this.sites) {
      this.integrate(track, t);
      for (const p of PHASES) {
        const ph = track.phases[p]!;
        if (ph.episodeStart !== undefined) this.closeEpisode(id, p, ph, t);
      }
    }
    for (const c of this.chargers.values()) {
      const s = c.sessions[c.sessions.length - 1];
      if (s && s.departT === undefined) this.closeWait(s, t);
      this.closeUnderDraw(c, t, false);
    }
  }

  private integrate(track: SiteTrack, t: number): void {
    const dt = t - track.lastT;
    if (dt <= 0) return;
    const dtS = dt / 1000;
    const snap = track.snapshot;
    let delivered = 0;
    for (const p of PHASES) {
      const ph = track.phases[p]!;
      delivered += snap.chargerSum[p];
      const over = Math.max(0, snap.current[p] - snap.fuse[p]);
      if (over > EPS) {
        ph.overAs += over * dtS;
        ph.overS += dtS;
        ph.overPeakA = Math.max(ph.overPeakA, over);
        ph.episodePeak = Math.max(ph.episodePeak, over);
        if (ph.platformFlag) {
          ph.platformAs += over * dtS;
          ph.platformS += dtS;
          ph.platformPeakA = Math.max(ph.platformPeakA, over);
          ph.episodePlatformAs += over * dtS;
        }
      }
    }
    track.deliveredAs += delivered * dtS;
    track.achievableAs += snap.achievable * dtS;
    track.lastT = t;
  }

  private closeEpisode(site: string, phase: string, ph: PhaseTrack, t: number): void {
    this.episodes.push({
      site,
      phase,
      startS: (ph.episodeStart ?? t) / 1000,
      endS: t / 1000,
      peakA: round2(ph.episodePeak),
      platformAs: round2(ph.episodePlatformAs),
    });
    ph.episodeStart = undefined;
  }

  /**
   * An increase applied by a charger: with every charger counted at the limit it has accepted, on
   * the phases its car draws on, a phase above the most permissive limit the platform knew in the
   * last `graceMs` means the increase went out before the decrease it depended on was accepted.
   */
  private checkIncrease(site: Site, c: SimCharger, t: number, limit: number): void {
    const track = this.sites.get(site.id)!;
    const load = commandedLoad(site);
    const permissive = permissiveKnown(track, t, this.opts.graceMs);
    const pending = site.pendingLimit();
    for (const p of PHASES) permissive[p] = Math.max(permissive[p], pending[p]);
    for (const p of c.carPhases()) {
      if (load[p] > permissive[p] + EPS) {
        this.orderingViolations.push({ charger: c.id, t, limit, phase: p, sum: round2(load[p]), known: round2(permissive[p]) });
        track.phases[p]!.platformFlag = true;
      }
    }
  }

  private achievable(track: SiteTrack, site: Site, t: number): number {
    const cars: CarDemand[] = [];
    for (const c of site.chargers) {
      if (!c.car) continue;
      // What the car could draw on: with 1/3-phase switching it may be told fewer phases for a while.
      const mask = ownMask(c);
      cars.push({ mask, min: Math.max(c.minCurrent, PILOT_MIN_A), demand: Math.min(c.spec.maxCurrent, c.car.demandA(t)) });
    }
    const headroom: [number, number, number] = [site.fuse.L1 - site.base.L1, site.fuse.L2 - site.base.L2, site.fuse.L3 - site.base.L3];
    const key = `${headroom.map((h) => h.toFixed(1)).join(',')}|${cars.map((c) => `${c.mask}:${c.min}:${c.demand}`).sort().join(',')}`;
    let v = track.capacityCache.get(key);
    if (v === undefined) {
      v = achievableCurrent(headroom, cars);
      if (track.capacityCache.size > 20_000) track.capacityCache.clear();
      track.capacityCache.set(key, v);
    }
    return v;
  }

  private trackCharger(site: Site, c: SimCharger, t: number, tAbs: number): void {
    const track = this.chargers.get(c.id)!;
    const demand = c.car ? Math.min(c.spec.maxCurrent, c.car.demandA(tAbs)) : 0;
    const drawn = Math.max(c.draw[0], c.draw[1], c.draw[2]);
    push(track.commanded, t, c.commandedA);
    push(track.draw, t, round2(drawn));
    push(track.demand, t, demand);
    const s = track.sessions[track.sessions.length - 1];
    if (!c.car || !s || s.departT !== undefined) return;
    if (drawn > 0 && s.firstEnergyT === undefined) s.firstEnergyT = t;
    if (demand > 0 && c.commandedA < PILOT_MIN_A) s.waitingSince ??= t;
    else this.closeWait(s, t);
    // Reclaim: the car draws (wants) well below its offer; the offer should come down to draw + headroom.
    const under = c.tx !== undefined && c.commandedA >= PILOT_MIN_A && demand < c.commandedA - this.opts.reclaimThresholdA;
    if (under && !track.underDraw) track.underDraw = { start: t, offerAtStart: c.commandedA, contendedSince: undefined };
    const u = track.underDraw;
    if (!u) return;
    // No longer "well below": reclaimed when the offer came down, ended by the car when it ramped up.
    if (!under) return this.closeUnderDraw(track, t, c.commandedA < u.offerAtStart);
    const target = Math.max(c.minCurrent, Math.ceil(demand + this.opts.reclaimHeadroomA));
    if (c.commandedA <= target + 0.5) return this.closeUnderDraw(track, t, true);
    if (u.contendedSince === undefined && this.othersHungry(site, c, tAbs)) u.contendedSince = t;
  }

  private othersHungry(site: Site, c: SimCharger, t: number): boolean {
    const mine = new Set(c.carPhases());
    return site.chargers.some((o) => o !== c && o.car !== undefined && o.carPhases().some((p) => mine.has(p)) && Math.min(o.spec.maxCurrent, o.car.demandA(t)) > o.commandedA + 0.5);
  }

  /**
   * Time to reclaim counts from when the unused current was first needed: the later of the start
   * of the under-draw and the moment another session on a shared phase wanted more than it had.
   */
  private closeUnderDraw(track: ChargerTrack, t: number, reclaimed: boolean): void {
    const u = track.underDraw;
    if (!u) return;
    track.underDraw = undefined;
    if (u.contendedSince === undefined) return;
    const from = Math.max(u.start, u.contendedSince);
    const durationS = (t - from) / 1000;
    if (reclaimed) this.reclaims.push({ charger: track.id, startS: from / 1000, reclaimS: durationS, durationS });
    else if (durationS > 0) this.reclaims.push({ charger: track.id, startS: from / 1000, durationS });
  }

  private closeWait(s: SessionTrack, t: number): void {
    if (s.waitingSince === undefined) return;
    s.longestWaitMs = Math.max(s.longestWaitMs, t - s.waitingSince);
    s.waitingSince = undefined;
  }
}

/** The grid phases the car on `c` can draw on, as a mask. */
function ownMask(c: SimCharger): number {
  let mask = 0;
  for (const p of c.terminals.slice(0, c.car?.phases ?? 0)) mask |= 1 << PHASES.indexOf(p);
  return mask;
}

/** Sum per grid phase of the limits the chargers accepted, on the phases their cars draw on. */
export function commandedLoad(site: Site): PhaseCurrents {
  const out = { L1: 0, L2: 0, L3: 0 };
  for (const c of site.chargers) for (const p of c.carPhases()) out[p] += c.commandedA;
  return out;
}

function permissiveKnown(track: SiteTrack, t: number, graceMs: number): PhaseCurrents {
  const h = track.knownHistory;
  const out = { L1: 0, L2: 0, L3: 0 };
  for (let i = h.length - 1; i >= 0; i--) {
    const e = h[i]!;
    for (const p of PHASES) out[p] = Math.max(out[p], e.k[p]);
    if (e.t <= t - graceMs) break;
  }
  return out;
}

const round2 = (v: number): number => Math.round(v * 100) / 100;
