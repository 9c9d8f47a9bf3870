import type { PartnerConnection } from '../ocpp/partner-client.js';

/**
 * The queue message being delivered now, until it is answered and acknowledged. The connection
 * is closed only after it: closing under a transaction message the partner is answering loses the
 * answer, the message goes back to the queue and the next session (on the node the charger moved
 * to) sends it again, so the partner would count it twice (a StartTransaction twice: two transactions).
 */
export class InFlightMessage {
  private current: Promise<unknown> | undefined;

  /** `done` settles once the message was answered and acknowledged (or given up). */
  track(done: Promise<unknown>): void {
    this.current = done;
    const clear = (): void => {
      if (this.current === done) this.current = undefined;
    };
    done.then(clear, clear);
  }

  /** Resolves once no message is in flight; never rejects. */
  get drained(): Promise<void> {
    return (this.current ?? Promise.resolve()).then(
      () => undefined,
      () => undefined,
    );
  }

  closeAfter(conn: PartnerConnection, reason: string): void {
    void this.drained.then(() => conn.close(1000, reason));
  }
}
