import type { Logger } from 'pino';
import type { CapStore } from '../core/cap-store.js';
import { capFromProfiles, type StoredProfile } from './partner-profiles.js';
import type { PartnerStore } from '../core/partner-store.js';

/**
 * Keeps one charger's partner cap (CapStore source `partner`) equal to what its partner charging
 * profiles impose now, and comes back when that changes (the next schedule period, a profile's end).
 * The balancer reads the cap; the charger never sees the partner's profiles.
 */
export class PartnerCapKeeper {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly chargerId: string,
    private readonly store: PartnerStore,
    private readonly caps: CapStore,
    private readonly phases: () => number,
    private readonly log: Pick<Logger, 'error'>,
    private readonly now: () => number,
  ) {}

  /** Changes the stored profiles (compare-and-set) and the cap with them. */
  async update(change: (current: StoredProfile[]) => StoredProfile[]): Promise<StoredProfile[]> {
    const next = await this.store.updateProfiles(this.chargerId, change);
    await this.recompute(next);
    return next;
  }

  async recompute(profiles?: StoredProfile[]): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      const list = profiles ?? (await this.store.profiles(this.chargerId));
      const now = this.now();
      const cap = capFromProfiles(list, now, this.phases());
      if (cap.limitA === undefined) {
        if ((await this.caps.get(this.chargerId)).partner) await this.caps.set(this.chargerId, 'partner', undefined);
      } else {
        const ids = list.map((p) => `${p.profile.chargingProfilePurpose}#${p.profile.chargingProfileId}`).join(',');
        await this.caps.set(this.chargerId, 'partner', {
          limitA: cap.limitA,
          reason: `partner charging profiles ${ids}`,
          ...(cap.until !== undefined ? { validTo: new Date(cap.until).toISOString() } : {}),
          setAt: new Date(now).toISOString(),
        });
      }
      if (cap.until !== undefined && !this.stopped) {
        this.timer = setTimeout(() => void this.recompute(), Math.min(Math.max(cap.until - now, 0) + 10, 2 ** 31 - 1));
      }
    } catch (err) {
      this.log.error({ err: String(err) }, 'could not update the partner cap');
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
