import type { Metrics } from '../core/metrics.js';

/**
 * Counts the calls a node answered `ok`, per action, into `cp_ocpp_messages_total`. Incrementing a
 * prom-client child hashes its labels on every call; a node answering thousands of periodic calls a
 * second adds them up here and hands prom-client one increment per action per event-loop turn
 * (setImmediate), so a scrape, which runs in a later turn, always sees every answered call.
 */
export class AnsweredCalls {
  private readonly pending = new Map<string, number>();
  private scheduled = false;

  constructor(private readonly metrics: Metrics) {}

  add(action: string): void {
    this.pending.set(action, (this.pending.get(action) ?? 0) + 1);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  readonly flush = (): void => {
    this.scheduled = false;
    for (const [action, n] of this.pending) this.metrics.ocppMessages.inc({ direction: 'in', action, result: 'ok' }, n);
    this.pending.clear();
  };
}
