import { partnerConnectionState, type PartnerConnectionState } from '../core/partner-connection.js';
import type { PartnerContext } from './partner-machine.js';

/**
 * What the partner machine's state means to an operator, as data: the connection state the status
 * shows (`core/partner-connection.ts`). Pure, so it is tested on the machine's own states.
 */

/** The machine's states that differ to an operator; a change of phase is a change of `since`. */
export type PartnerPhase = 'backoff' | 'opening' | 'booting' | 'bootFailed' | 'pending' | 'rejected' | 'accepted';

/** The phase of a snapshot value of `partnerMachine` (`'offline'` or `{ online: ... }`). */
export function partnerPhase(value: unknown): PartnerPhase {
  if (value === 'offline') return 'backoff';
  const online = typeof value === 'object' && value !== null ? (value as { online?: unknown }).online : undefined;
  if (typeof online === 'object' && online !== null && 'accepted' in online) return 'accepted';
  if (online === 'booting' || online === 'bootFailed' || online === 'pending' || online === 'rejected') return online;
  return 'opening';
}

/** The connection state of a session in `phase` since `enteredAt` (ms), with the context then. */
export function connectionStateOf(phase: PartnerPhase, context: Pick<PartnerContext, 'attempt' | 'lastError' | 'bootError' | 'retryDelayMs' | 'retryIntervalS' | 'timing'>, enteredAt: number): PartnerConnectionState {
  const since = new Date(enteredAt).toISOString();
  const at = (ms: number): string => new Date(enteredAt + ms).toISOString();
  const base = { since, attempt: context.attempt };
  switch (phase) {
    case 'backoff':
      return partnerConnectionState('backoff', { ...base, reason: context.lastError ?? 'connection closed', retryAt: at(context.retryDelayMs) });
    case 'opening':
      return partnerConnectionState('connecting', { ...base, reason: context.attempt > 0 && context.lastError ? `last attempt: ${context.lastError}` : null });
    case 'booting':
      return partnerConnectionState('connecting', { ...base, reason: 'BootNotification sent, waiting for the answer' });
    case 'bootFailed':
      return partnerConnectionState('connecting', { ...base, reason: `BootNotification failed: ${context.bootError ?? 'no answer'}`, retryAt: at(context.timing.bootRetryS * 1000) });
    case 'pending':
      return partnerConnectionState('pending', { ...base, reason: 'BootNotification answered Pending', retryAt: at(context.retryIntervalS * 1000) });
    case 'rejected':
      return partnerConnectionState('rejected', { ...base, reason: 'BootNotification answered Rejected', retryAt: at(context.retryIntervalS * 1000) });
    case 'accepted':
      return partnerConnectionState('connected', base);
  }
}
