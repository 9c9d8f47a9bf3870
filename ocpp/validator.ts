import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
// Deep import on purpose: typed-ocpp's root module compiles every OCPP 1.6/2.0/2.1 schema at load
// (about 1.2 s); the schema module alone is plain data and loads in a few ms.
import * as schemas from 'typed-ocpp/dist/ocpp16/schemas.js';
import { dateTimeFormat } from './date-time-format.js';
import { ALL_ACTIONS, CENTRAL_SYSTEM_ACTIONS, CHARGER_INITIATED_ACTIONS, isKnownAction, type OcppAction } from './actions.js';
import { OcppCallError, type CallErrorCode } from './errors.js';

// ajv-formats is CommonJS (`module.exports = plugin; exports.default = plugin`); under NodeNext the
// default import is `module.exports`, typed as the module, so the plugin is its `.default`.
const addFormats = addFormatsModule.default;

/**
 * Our own Ajv: `strict: false` because the 1.6 schemas carry keywords Ajv's strict mode rejects
 * (`additionalProperties` on strings, `id`), no `removeAdditional` and no type coercion, so that
 * what we validate is what the peer sent. One error is enough for a CALLERROR.
 */
const ajv = new Ajv({ strict: false, allErrors: false, multipleOfPrecision: 6, validateSchema: false });
addFormats(ajv);
ajv.addFormat('date-time', dateTimeFormat);

const SCHEMAS = schemas as unknown as Record<string, object | undefined>;

/**
 * The two validators of one action, compiled on first use and kept for the life of the process:
 * the hot path looks an action up once per call and carries this pair with it.
 */
export class ActionValidators {
  private req: ValidateFunction | undefined;
  private res: ValidateFunction | undefined;

  constructor(readonly action: OcppAction) {}

  /** Undefined when `payload` is a valid request of this action, else the CALLERROR it deserves. */
  request(payload: unknown): OcppCallError | undefined {
    const fn = (this.req ??= compile(this.action, 'request'));
    return fn(payload) ? undefined : toCallError(this.action, 'request', fn.errors);
  }

  /** The same for a response (CALLRESULT payload). */
  response(payload: unknown): OcppCallError | undefined {
    const fn = (this.res ??= compile(this.action, 'response'));
    return fn(payload) ? undefined : toCallError(this.action, 'response', fn.errors);
  }
}

function compile(action: OcppAction, kind: 'request' | 'response'): ValidateFunction {
  const name = `${action}${kind === 'request' ? 'Request' : 'Response'}`;
  const schema = SCHEMAS[name];
  if (!schema) throw new Error(`typed-ocpp has no schema ${name}`);
  return ajv.compile(schema);
}

const VALIDATORS: ReadonlyMap<string, ActionValidators> = new Map(ALL_ACTIONS.map((a) => [a, new ActionValidators(a)]));

/** The validators of a known 1.6 action; undefined for anything else. */
export function validatorsOf(action: string): ActionValidators | undefined {
  return VALIDATORS.get(action);
}

/** Ajv keyword -> OCPP 1.6 CallError code. Anything not listed is a PropertyConstraintViolation. */
const KEYWORD_CODES: Readonly<Record<string, CallErrorCode>> = {
  type: 'TypeConstraintViolation',
  required: 'OccurenceConstraintViolation',
  dependencies: 'OccurenceConstraintViolation',
  dependentRequired: 'OccurenceConstraintViolation',
};

export function codeForKeyword(keyword: string): CallErrorCode {
  return KEYWORD_CODES[keyword] ?? 'PropertyConstraintViolation';
}

/** `/a/b/0/c` -> `a.b[0].c`; the root is `(payload)`. */
function fieldPath(instancePath: string, child?: string): string {
  let out = '';
  const parts = instancePath === '' ? [] : instancePath.slice(1).split('/');
  if (child !== undefined) parts.push(child);
  for (const raw of parts) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out === '' ? '(payload)' : out;
}

function describe(err: ErrorObject): { field: string; reason: string } {
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return { field: fieldPath(err.instancePath, String(params.missingProperty)), reason: 'is required' };
    case 'additionalProperties':
      return {
        field: fieldPath(err.instancePath, String(params.additionalProperty)),
        reason: 'is not allowed (additional property)',
      };
    case 'enum':
      return {
        field: fieldPath(err.instancePath),
        reason: `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    default:
      return { field: fieldPath(err.instancePath), reason: err.message ?? `fails ${err.keyword}` };
  }
}

function toCallError(action: string, kind: 'request' | 'response', errors: ErrorObject[] | null | undefined): OcppCallError {
  const first = errors?.[0];
  if (!first) return new OcppCallError('FormationViolation', `${action} ${kind} is invalid`);
  const { field, reason } = describe(first);
  return new OcppCallError(codeForKeyword(first.keyword), `${action} ${kind}: ${field} ${reason}`, {
    details: { field, reason, keyword: first.keyword },
  });
}

function validate(action: string, kind: 'request' | 'response', payload: unknown): OcppCallError | undefined {
  const v = VALIDATORS.get(action);
  if (!v) return new OcppCallError('NotImplemented', `Unknown action ${JSON.stringify(action)}`);
  return kind === 'request' ? v.request(payload) : v.response(payload);
}

/** Validates a CALL payload for `action`; an unknown action is NotImplemented. */
export function validateRequest(action: string, payload: unknown): OcppCallError | undefined {
  return validate(action, 'request', payload);
}

/** Validates a CALLRESULT payload for `action`; an unknown action is NotImplemented. */
export function validateResponse(action: string, payload: unknown): OcppCallError | undefined {
  return validate(action, 'response', payload);
}

export { isKnownAction, ALL_ACTIONS, CHARGER_INITIATED_ACTIONS, CENTRAL_SYSTEM_ACTIONS };
export type { OcppAction, OcppActionMap, RequestOf, ResponseOf, ChargerInitiatedAction, CentralSystemAction } from './actions.js';
