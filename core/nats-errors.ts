import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';

/**
 * What a NATS client error means to the platform, told by the client's typed errors (never by
 * message text, which changes between client versions):
 * - `no-responders`: a request nobody subscribes to (e.g. no node holds the charger's socket);
 * - `timeout`: a request or operation that got no answer in time;
 * - `wrong-last-sequence`: a compare-and-set write lost (KV update/create on a changed key);
 * - `not-found`: the stream or consumer does not exist;
 * - `other`: anything else, for the caller to rethrow.
 */
export type NatsErrorKind = 'no-responders' | 'timeout' | 'wrong-last-sequence' | 'not-found' | 'other';

export function classifyNatsError(err: unknown): NatsErrorKind {
  if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) return 'no-responders';
  if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) return 'timeout';
  if (err instanceof JetStreamApiError) {
    switch (err.code) {
      case JetStreamApiCodes.StreamWrongLastSequence:
      case JetStreamApiCodes.StreamWrongLastSequenceUnknown:
        return 'wrong-last-sequence';
      case JetStreamApiCodes.StreamNotFound:
      case JetStreamApiCodes.ConsumerNotFound:
        return 'not-found';
    }
  }
  return 'other';
}
