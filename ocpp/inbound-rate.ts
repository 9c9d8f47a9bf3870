import type { OcppLogger } from './logger.js';
import { TokenBucket } from './token-bucket.js';

/**
 * The incoming call rate of one connection: one token per incoming CALL (or malformed frame), and
 * refusals reported in one log line per second, not one per frame, so a flood costs little more
 * than the answers.
 */
export class InboundRate {
  private readonly bucket: TokenBucket;
  /** Refusals since the last warning. */
  private refused = 0;
  private warnedAt = 0;

  constructor(
    readonly callsPerSecond: number,
    burst: number,
    private readonly now: () => number,
  ) {
    this.bucket = new TokenBucket(callsPerSecond, Math.max(1, burst), now());
  }

  /** Takes a token; false (and maybe a warning) when there is none. */
  take(identity: string, logger: OcppLogger): boolean {
    if (this.bucket.take(this.now())) return true;
    this.refused += 1;
    const now = this.now();
    if (now - this.warnedAt >= 1_000) {
      logger.warn({ identity, refused: this.refused, callsPerSecond: this.callsPerSecond }, 'incoming OCPP calls over the rate limit answered GenericError');
      this.warnedAt = now;
      this.refused = 0;
    }
    return false;
  }

  /** The CALLERROR a refused call gets (not cached: a retry with the same id is a new call). */
  refusalFrame(id: string): string {
    return JSON.stringify([4, id, 'GenericError', `Rate limit: at most ${this.callsPerSecond} calls per second`, { callsPerSecond: this.callsPerSecond }]);
  }
}
