/**
 * OCPP-J 1.6 CallError codes (section 4.2.3 of the OCPP-J 1.6 specification), with 1.6's own
 * spellings: note `OccurenceConstraintViolation` with one "r", as the 1.6 text has it (OCPP 2.0
 * corrected it; typed-ocpp's enum uses the corrected spelling, we do not).
 */
export const CALL_ERROR_CODES = [
  'NotImplemented',
  'NotSupported',
  'InternalError',
  'ProtocolError',
  'SecurityError',
  'FormationViolation',
  'PropertyConstraintViolation',
  'OccurenceConstraintViolation',
  'TypeConstraintViolation',
  'GenericError',
] as const;

export type CallErrorCode = (typeof CALL_ERROR_CODES)[number];

const CODE_SET: ReadonlySet<string> = new Set(CALL_ERROR_CODES);

export function isCallErrorCode(code: unknown): code is CallErrorCode {
  return typeof code === 'string' && CODE_SET.has(code);
}

/**
 * An error that becomes (or came from) an OCPP CALLERROR with a 1.6 code. Throw one of the
 * subclasses from a call handler to answer with that code.
 */
export class OcppCallError extends Error {
  readonly code: CallErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: CallErrorCode, message: string, opts: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'OcppCallError';
    this.code = code;
    this.details = opts.details ?? {};
  }
}

type CallErrorOptions = { details?: Record<string, unknown>; cause?: unknown };

/** Requested Action is not known by receiver. */
export class NotImplementedError extends OcppCallError {
  constructor(message = 'Requested action is not known by receiver', opts?: CallErrorOptions) {
    super('NotImplemented', message, opts);
    this.name = 'NotImplementedError';
  }
}

/** Requested Action is recognized but not supported by the receiver. */
export class NotSupportedError extends OcppCallError {
  constructor(message = 'Requested action is recognized but not supported by the receiver', opts?: CallErrorOptions) {
    super('NotSupported', message, opts);
    this.name = 'NotSupportedError';
  }
}

/** An internal error occurred and the receiver was not able to process the requested Action. */
export class InternalError extends OcppCallError {
  constructor(message = 'Internal error', opts?: CallErrorOptions) {
    super('InternalError', message, opts);
    this.name = 'InternalError';
  }
}

/** Payload for Action is incomplete. */
export class ProtocolError extends OcppCallError {
  constructor(message = 'Payload for action is incomplete', opts?: CallErrorOptions) {
    super('ProtocolError', message, opts);
    this.name = 'ProtocolError';
  }
}

/** During the processing of Action a security issue occurred preventing successful completion. */
export class SecurityError extends OcppCallError {
  constructor(message = 'Security issue', opts?: CallErrorOptions) {
    super('SecurityError', message, opts);
    this.name = 'SecurityError';
  }
}

/** Payload for Action is syntactically incorrect or not conform the PDU structure for Action. */
export class FormationViolationError extends OcppCallError {
  constructor(message = 'Message is syntactically incorrect', opts?: CallErrorOptions) {
    super('FormationViolation', message, opts);
    this.name = 'FormationViolationError';
  }
}

/** Payload is syntactically correct but at least one field contains an invalid value. */
export class PropertyConstraintViolationError extends OcppCallError {
  constructor(message = 'A field contains an invalid value', opts?: CallErrorOptions) {
    super('PropertyConstraintViolation', message, opts);
    this.name = 'PropertyConstraintViolationError';
  }
}

/** Payload is syntactically correct but at least one field violates occurence constraints. */
export class OccurenceConstraintViolationError extends OcppCallError {
  constructor(message = 'A field violates occurence constraints', opts?: CallErrorOptions) {
    super('OccurenceConstraintViolation', message, opts);
    this.name = 'OccurenceConstraintViolationError';
  }
}

/** Payload is syntactically correct but at least one field violates data type constraints. */
export class TypeConstraintViolationError extends OcppCallError {
  constructor(message = 'A field violates data type constraints', opts?: CallErrorOptions) {
    super('TypeConstraintViolation', message, opts);
    this.name = 'TypeConstraintViolationError';
  }
}

/** Any other error not covered by the previous ones. */
export class GenericError extends OcppCallError {
  constructor(message = 'Generic error', opts?: CallErrorOptions) {
    super('GenericError', message, opts);
    this.name = 'GenericError';
  }
}

/** One class per code: the lookup the factory and the tests use. */
export const CALL_ERROR_CLASSES = {
  NotImplemented: NotImplementedError,
  NotSupported: NotSupportedError,
  InternalError: InternalError,
  ProtocolError: ProtocolError,
  SecurityError: SecurityError,
  FormationViolation: FormationViolationError,
  PropertyConstraintViolation: PropertyConstraintViolationError,
  OccurenceConstraintViolation: OccurenceConstraintViolationError,
  TypeConstraintViolation: TypeConstraintViolationError,
  GenericError: GenericError,
} as const satisfies Record<CallErrorCode, new (message?: string, opts?: CallErrorOptions) => OcppCallError>;

/** Builds the error class for `code` (an unknown code becomes GenericError). */
export function createCallError(code: string, message?: string, opts?: CallErrorOptions): OcppCallError {
  const Ctor = isCallErrorCode(code) ? CALL_ERROR_CLASSES[code] : GenericError;
  return new Ctor(message, opts);
}

/** An outgoing CALL got no answer within its timeout. */
export class OcppTimeoutError extends Error {
  readonly action: string;
  readonly timeoutMs: number;
  constructor(action: string, timeoutMs: number) {
    super(`${action} got no answer within ${timeoutMs} ms`);
    this.name = 'OcppTimeoutError';
    this.action = action;
    this.timeoutMs = timeoutMs;
  }
}

/** The connection closed (or was closed) before the CALL was answered or sent. */
export class OcppClosedError extends Error {
  readonly action: string | undefined;
  constructor(action?: string, message = 'The OCPP connection is closed') {
    super(action ? `${action}: ${message}` : message);
    this.name = 'OcppClosedError';
    this.action = action;
  }
}

/** The peer answered our CALL with a CALLERROR. `code` is the peer's code, verbatim. */
export class OcppRemoteError extends Error {
  readonly action: string;
  readonly code: string;
  readonly description: string;
  readonly details: Record<string, unknown>;
  constructor(action: string, code: string, description: string, details: Record<string, unknown>) {
    super(`${action} failed at the peer: ${code}${description ? `: ${description}` : ''}`);
    this.name = 'OcppRemoteError';
    this.action = action;
    this.code = code;
    this.description = description;
    this.details = details;
  }
}

/** The connection's queue of outgoing calls is full: the call was not sent. */
export class OcppBusyError extends Error {
  readonly action: string;
  constructor(action: string, maxQueued: number) {
    super(`${action}: not sent, ${maxQueued} calls are already waiting for this connection`);
    this.name = 'OcppBusyError';
    this.action = action;
  }
}
