import type { FastifyPluginAsync } from 'fastify';
import { commandError } from '../../core/commands.js';
import { PlatformError } from '../../core/errors.js';
import { redactOcppPayload } from '../../core/redact.js';
import { CENTRAL_SYSTEM_ACTIONS, validateRequest } from '../../ocpp/validator.js';
import type { ApiDeps } from '../deps.js';
import { errorResponses } from '../errors.js';
import { SECURITY, idParam } from '../schemas.js';
import { requireCharger } from '../scope.js';

/**
 * The balancer owns every charging profile on a charger: it alone knows what keeps each phase under
 * its fuse. A profile from the API would replace one of its limits (same purpose and stack level)
 * or clear them, so these are refused rather than forwarded (README "Commands").
 */
export function smartChargingRefusal(action: string, payload: Record<string, unknown>): string | undefined {
  if (action === 'SetChargingProfile') return 'SetChargingProfile is not forwarded: the balancer sets every charging profile';
  if (action === 'ClearChargingProfile') return "ClearChargingProfile is not forwarded: it would clear the balancer's limits";
  if (action === 'RemoteStartTransaction' && payload.chargingProfile !== undefined) {
    return 'RemoteStartTransaction with a chargingProfile is not forwarded: send it without one; the balancer sets the limit';
  }
  return undefined;
}

export const MAX_COMMAND_TIMEOUT_MS = 60_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

export function commandRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Params: { chargerId: string; Action: string }; Querystring: { timeoutMs: number }; Body: unknown }>(
      '/chargers/:chargerId/commands/:Action',
      {
        // Actions without fields (ClearCache, GetLocalListVersion) may be sent without a body.
        preValidation: async (req) => {
          if (req.body === undefined) req.body = {};
        },
        schema: {
          tags: ['commands'],
          summary: 'Send an OCPP 1.6 Central System command to the charger and return its response',
          description:
            'The body is the OCPP request payload of `Action`, validated against the official 1.6 schema before anything is sent ' +
            '(400 with `field` and `ocppCode`). 409 when the charger is not connected, 504 when it does not answer in time, ' +
            '502 when it answers with a CallError (`ocppCode`). SetChargingProfile, ClearChargingProfile and ' +
            'RemoteStartTransaction with a chargingProfile answer 409 BALANCER_OWNS_PROFILES: the balancer owns every charging ' +
            'profile. AuthorizationKey values in the answer are redacted.',
          security: SECURITY,
          params: {
            type: 'object',
            additionalProperties: false,
            required: ['chargerId', 'Action'],
            properties: { chargerId: idParam, Action: { type: 'string', enum: [...CENTRAL_SYSTEM_ACTIONS] } },
          },
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { timeoutMs: { type: 'integer', minimum: 1, maximum: MAX_COMMAND_TIMEOUT_MS, default: DEFAULT_COMMAND_TIMEOUT_MS } },
          },
          // Checked by the OCPP validator, not here: Fastify's schema cannot name OCPP's error codes.
          body: { type: 'object', description: 'The OCPP request payload of the action', additionalProperties: true },
          response: {
            200: { type: 'object', additionalProperties: true, description: "The charger's OCPP response payload" },
            ...errorResponses(400, 401, 404, 409, 429, 502, 504),
          },
        },
      },
      async (req) => {
        const { chargerId, Action } = req.params;
        await requireCharger(deps, req, chargerId);
        const payload = req.body as Record<string, unknown>;
        const invalid = validateRequest(Action, payload);
        if (invalid) {
          const field = typeof invalid.details.field === 'string' && invalid.details.field !== '(payload)' ? invalid.details.field : '(body)';
          const reason = typeof invalid.details.reason === 'string' ? invalid.details.reason : invalid.message;
          throw new PlatformError('VALIDATION', `${field}: ${reason} (${invalid.code})`, { details: { field, ocppCode: invalid.code } });
        }
        const refused = smartChargingRefusal(Action, payload);
        if (refused) throw new PlatformError('BALANCER_OWNS_PROFILES', refused);
        const reply = await deps.commands.send(chargerId, { action: Action, payload, timeoutMs: req.query.timeoutMs });
        req.log.info({ chargerId, action: Action, ok: reply.ok, ...(reply.ok ? {} : { error: reply.error.code }) }, 'charger command');
        if (reply.ok) return redactOcppPayload(reply.response);
        throw commandError(reply.error);
      },
    );
  };
}
