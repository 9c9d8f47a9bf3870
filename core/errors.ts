/**
 * The one registry of the platform's coded errors. Each code has a message and, for the API, an
 * HTTP status. OCPP CallError codes are 1.6's own and live in `ocpp/errors.ts`.
 */
export const ERRORS = {
  VALIDATION: { status: 400, message: 'Invalid input' },
  UNAUTHORIZED: { status: 401, message: 'Missing or invalid credentials' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  CONFLICT: { status: 409, message: 'Conflict with the current state' },
  ALREADY_EXISTS: { status: 409, message: 'Already exists' },
  NOT_CONNECTED: { status: 409, message: 'Charger is not connected' },
  HAS_CONNECTED_CHARGERS: { status: 409, message: 'Installation has connected chargers' },
  BALANCER_OWNS_PROFILES: { status: 409, message: "Charging profiles are the balancer's; set a limit through the installation instead" },
  TOO_MANY_REQUESTS: { status: 429, message: 'Too many failed attempts' },
  CHARGER_TIMEOUT: { status: 504, message: 'Charger did not answer in time' },
  CHARGER_ERROR: { status: 502, message: 'Charger answered with an OCPP CallError' },
  INTERNAL: { status: 500, message: 'Internal error' },
  CONFIG: { status: 500, message: 'Invalid configuration' },
  NATS_SERVER_MISSING: { status: 500, message: 'nats-server binary not found' },
  NATS_SERVER_START: { status: 500, message: 'nats-server failed to start' },
  NATS_STORE_IN_USE: { status: 500, message: 'the nats store in DATA_DIR belongs to another running node' },
  NATS_REPLICAS: { status: 500, message: 'A bucket or stream does not have the replicas NATS_REPLICAS asks for' },
  STORE_CONFLICT: { status: 409, message: 'Concurrent update, retry' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class PlatformError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message ?? ERRORS[code].message, { cause: opts.cause });
    this.name = 'PlatformError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = opts.details;
  }
}

/** A validation failure that names the failing field, as the API and the stores report it. */
export class ValidationError extends PlatformError {
  readonly field: string;
  constructor(field: string, reason: string) {
    super('VALIDATION', `${field}: ${reason}`, { details: { field, reason } });
    this.name = 'ValidationError';
    this.field = field;
  }
}

export function isPlatformError(err: unknown, code?: ErrorCode): err is PlatformError {
  return err instanceof PlatformError && (code === undefined || err.code === code);
}
