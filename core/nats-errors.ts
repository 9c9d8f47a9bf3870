import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';

/**
 * nats-server's JSClusterNotAvailErr ("JetStream system temporarily unavailable", HTTP-like status
 * 503): the JetStream meta group has no leader, e.g. while a cluster starts or lost its quorum. The
 * client names no constant for it.
 */
const JS_CLUSTER_NOT_AVAILABLE = 10008;
/**
 * JSClusterNoPeersErr ("no suitable peers for placement"): a new cluster's meta leader does not know
 * every server yet, so a replicated stream cannot be placed; it can a moment later.
 */
const JS_CLUSTER_NO_PEERS = 10005;
/** JSStreamNameExistErr ("stream name already in use with a different configuration") and JSStreamSubjectOverlapErr. */
const JS_STREAM_NAME_IN_USE = 10058;
const JS_STREAM_SUBJECT_OVERLAP = 10065;

/**
 * What a NATS client error means to the platform, told by the client's typed errors (never by
 * message text, which changes between client versions):
 * - `no-responders`: a request nobody subscribes to (e.g. no node holds the charger's socket);
 * - `timeout`: a request or operation that got no answer in time;
 * - `unavailable`: JetStream cannot serve the request now (no meta leader, or not yet every peer
 *   known for placement), it may later;
 * - `wrong-last-sequence`: a compare-and-set write lost (KV update/create on a changed key);
 * - `not-found`: the stream or consumer does not exist;
 * - `exists`: a stream of that name, or one taking its subjects, exists already;
 * - `other`: anything else, for the caller to rethrow.
 */
export type NatsErrorKind = 'no-responders' | 'timeout' | 'unavailable' | 'wrong-last-sequence' | 'not-found' | 'exists' | 'other';

export function classifyNatsError(err: unknown): NatsErrorKind {
  if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) return 'no-responders';
  if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) return 'timeout';
  if (err instanceof JetStreamApiError) {
    switch (err.code) {
      case JS_CLUSTER_NOT_AVAILABLE:
      case JS_CLUSTER_NO_PEERS:
        return 'unavailable';
      case JetStreamApiCodes.StreamWrongLastSequence:
      case JetStreamApiCodes.StreamWrongLastSequenceUnknown:
        return 'wrong-last-sequence';
      case JetStreamApiCodes.StreamNotFound:
      case JetStreamApiCodes.ConsumerNotFound:
        return 'not-found';
      case JS_STREAM_NAME_IN_USE:
      case JS_STREAM_SUBJECT_OVERLAP:
        return 'exists';
    }
  }
  return 'other';
}

/**
 * Errors that pass by themselves while a cluster elects its leaders: worth retrying. A JetStream API
 * nobody answers is not among them: the client reports it as JetStream not enabled, a setup error.
 */
export function isTransientNatsError(err: unknown): boolean {
  const kind = classifyNatsError(err);
  return kind === 'timeout' || kind === 'no-responders' || kind === 'unavailable';
}
