import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import type { Logger } from 'pino';
import { ERRORS, isPlatformError, type ErrorCode } from '../core/errors.js';
import { ID_PATTERN } from '../core/ids.js';
import { chargerInputSchema, installationInputSchema } from '../core/schemas.js';
import { fieldOfSchemaError, reasonOfSchemaError } from '../core/validate.js';

/** The one error shape of every API response with a 4xx/5xx status. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string; ocppCode?: string };
}

export const ERROR_SCHEMA_ID = 'Error';

export const errorSchema = {
  $id: ERROR_SCHEMA_ID,
  type: 'object',
  description: 'Every error response',
  additionalProperties: false,
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERRORS) },
        message: { type: 'string' },
        field: { type: 'string', description: 'The failing field (400 only): a dotted path into the body, or a query/path parameter' },
        ocppCode: { type: 'string', description: 'OCPP 1.6 CallError code, for invalid command payloads (400) and charger CallErrors (502)' },
      },
    },
  },
} as const;

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input; `field` names what failed. Nothing was changed.',
  401: 'Missing or invalid bearer token',
  404: 'Not found, or not in the token\'s scope',
  409: 'Conflict with the current state',
  429: 'Too many failed authentication attempts from this address',
  502: 'The charger answered with an OCPP CallError',
  504: 'The charger did not answer in time',
};

/** Response schemas for the given error statuses, all pointing at the shared Error schema. */
export function errorResponses(...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(statuses.map((s) => [s, { $ref: `${ERROR_SCHEMA_ID}#`, description: DESCRIPTIONS[s] ?? 'Error' }]));
}

export function errorBody(code: ErrorCode, message: string, extra: { field?: string; ocppCode?: string } = {}): ErrorBody {
  return { error: { code, message, ...(extra.field !== undefined ? { field: extra.field } : {}), ...(extra.ocppCode ? { ocppCode: extra.ocppCode } : {}) } };
}

export function sendError(reply: FastifyReply, status: number, body: ErrorBody): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** Plain words for the patterns users meet (ajv would print the regular expression). */
const PATTERN_REASONS: Record<string, string> = {
  [ID_PATTERN]: 'must be 1-48 characters of A-Z, a-z, 0-9, _ or -',
  [installationInputSchema.properties.ocpp.properties.url.pattern]: 'must be a ws:// or wss:// URL template containing {deviceId}',
  [chargerInputSchema.properties.ocpp.properties.url.pattern]: 'must be a ws:// or wss:// URL',
};

/** core/validate's reasons, in plainer words for patterns, types and enums. */
function reasonOfRequestError(err: FastifySchemaValidationError): string {
  if (err.keyword === 'pattern') return PATTERN_REASONS[String(err.params.pattern)] ?? err.message ?? 'has an invalid format';
  if (err.keyword === 'type') return `must be ${String(err.params.type).split(',').join(' or ')}`;
  if (err.keyword === 'enum') return `must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  return reasonOfSchemaError(err);
}

/** Turns any thrown error into the one error shape. Messages never carry submitted values of secrets. */
export function errorHandler(logger: Logger) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (err.validation && err.validation.length > 0) {
      const first = err.validation[0]!;
      const field = fieldOfSchemaError(first, err.validationContext);
      return sendError(reply, 400, errorBody('VALIDATION', `${field}: ${reasonOfRequestError(first)}`, { field }));
    }
    if (isPlatformError(err)) {
      const details = err.details ?? {};
      const field = typeof details.field === 'string' ? details.field : undefined;
      const ocppCode = typeof details.ocppCode === 'string' ? details.ocppCode : undefined;
      if (err.status >= 500) logger.error({ err, reqId: req.id }, 'request failed');
      return sendError(reply, err.status, errorBody(err.code, err.message, { ...(field !== undefined ? { field } : {}), ...(ocppCode ? { ocppCode } : {}) }));
    }
    const status = err.statusCode ?? 500;
    if (status === 404) return sendError(reply, 404, errorBody('NOT_FOUND', err.message));
    if (status === 429) return sendError(reply, 429, errorBody('TOO_MANY_REQUESTS', err.message));
    if (status >= 400 && status < 500) {
      // Fastify's own client errors: malformed JSON, unsupported media type, empty body, too large.
      return sendError(reply, 400, errorBody('VALIDATION', `(body): ${err.message}`, { field: '(body)' }));
    }
    logger.error({ err, reqId: req.id }, 'request failed');
    return sendError(reply, 500, errorBody('INTERNAL', ERRORS.INTERNAL.message));
  };
}
