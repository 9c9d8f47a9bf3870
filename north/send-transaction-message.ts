import type { Logger } from 'pino';
import { retryTransient } from '../core/nats.js';
import type { PartnerStore } from '../core/partner-store.js';
import type { QueueEntry } from '../core/partner-queue.js';
import { OcppCallError, OcppClosedError, OcppRemoteError, OcppTimeoutError } from '../ocpp/errors.js';
import type { RpcConnection } from '../ocpp/rpc-connection.js';
import type { DeliveryOutcome } from './partner-delivery.js';
import type { StoredProfile } from './partner-profiles.js';

/** What sending one queued transaction message needs of its partner session. */
export interface TransactionMessageEnv {
  /** The open connection to the partner. */
  rpc: RpcConnection;
  store: PartnerStore;
  chargerId: string;
  log: Logger;
  /** The partner cap's profiles, changed through the session's cap keeper. */
  updateProfiles(change: (current: StoredProfile[]) => StoredProfile[]): Promise<unknown>;
}

/**
 * Sends one queued StartTransaction / MeterValues / StopTransaction to the partner, with the platform's
 * transaction id mapped to the partner's, and says what came of it.
 */
export async function sendTransactionMessage(entry: QueueEntry, env: TransactionMessageEnv): Promise<DeliveryOutcome> {
  const { rpc, store, chargerId, log } = env;
  try {
    if (entry.kind === 'start') {
      // Mapped already: the partner answered this StartTransaction, but the node that sent it did not
      // get to acknowledge it (it died, or NATS failed under the ack). Sending it again would open a
      // second transaction at the partner.
      if (await store.partnerTransaction(chargerId, entry.transactionId)) {
        log.info({ transactionId: entry.transactionId }, 'StartTransaction already answered by the partner; not sent again');
        return 'delivered';
      }
      const res = await rpc.call('StartTransaction', entry.request);
      // Answered: from here on a failure must not count as the partner's (that would send it again).
      await afterAnswered(() => store.mapTransaction(chargerId, entry.transactionId, { partnerTxId: res.transactionId, connectorId: entry.request.connectorId }));
      if (res.idTagInfo.status !== 'Accepted') {
        log.warn({ transactionId: entry.transactionId, partnerTxId: res.transactionId, status: res.idTagInfo.status }, 'partner did not accept the id tag of a started transaction');
      }
      return 'delivered';
    }
    const mapping = await store.partnerTransaction(chargerId, entry.transactionId);
    if (!mapping) return 'dropped';
    if (entry.kind === 'meter') {
      await rpc.call('MeterValues', { ...entry.request, transactionId: mapping.partnerTxId });
      return 'delivered';
    }
    await rpc.call('StopTransaction', { ...entry.request, transactionId: mapping.partnerTxId });
    // The partner has it: what is left is housekeeping, which must not send the stop again when it fails.
    try {
      await afterAnswered(async () => {
        await store.forgetTransaction(chargerId, entry.transactionId);
        // A TxProfile lives as long as its transaction.
        await env.updateProfiles((cur) =>
          cur.filter((p) => !(p.profile.chargingProfilePurpose === 'TxProfile' && (p.profile.transactionId === mapping.partnerTxId || (p.profile.transactionId === undefined && p.connectorId === mapping.connectorId)))),
        );
      });
    } catch (err) {
      log.warn({ transactionId: entry.transactionId, err: String(err) }, 'StopTransaction delivered; its transaction ids or TxProfile not cleaned up');
    }
    return 'delivered';
  } catch (err) {
    if (err instanceof OcppClosedError) return 'offline';
    if (err instanceof OcppTimeoutError) return rpc.isOpen ? 'failed' : 'offline';
    if (err instanceof OcppRemoteError) {
      log.warn({ kind: entry.kind, code: err.code, description: err.description }, 'partner answered a transaction message with a CALLERROR');
      return 'failed';
    }
    if (err instanceof OcppCallError) {
      log.error({ kind: entry.kind, code: err.code, err: err.message }, 'a queued transaction message is not valid OCPP; dropped');
      return 'dropped';
    }
    throw err;
  }
}

/** KV work after the partner answered: any failure is retried here rather than by sending the message again. */
function afterAnswered(work: () => Promise<void>): Promise<void> {
  return retryTransient(work, 4, 250, () => true);
}
