import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ValidationError } from './errors.js';

// No type coercion: a string "32" where a number is expected is an error, not a guess.
const ajv = new Ajv({ allErrors: false, useDefaults: true, coerceTypes: false, strict: false });

const compiled = new WeakMap<object, ValidateFunction>();

/** The part of an ajv error that names the failing field (ajv's and Fastify's errors have it). */
export type SchemaErrorLike = Pick<ErrorObject, 'instancePath' | 'keyword' | 'params' | 'message'>;

/** `/fuse/L1` -> `fuse.L1`, with the missing or unknown property appended; `(context)` at the root. */
export function fieldOfSchemaError(err: SchemaErrorLike, context = 'body'): string {
  const params = err.params as Record<string, unknown>;
  const base = err.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const extra = err.keyword === 'required' ? String(params.missingProperty) : err.keyword === 'additionalProperties' ? String(params.additionalProperty) : '';
  return [base, extra].filter(Boolean).join('.') || `(${context})`;
}

export function reasonOfSchemaError(err: SchemaErrorLike): string {
  if (err.keyword === 'additionalProperties') return 'unknown field';
  if (err.keyword === 'required') return 'is required';
  return err.message ?? err.keyword;
}

/** Validates (and fills defaults into) a copy of `value`; throws a ValidationError naming the field. */
export function validateWith<T>(schema: object, value: unknown): T {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    compiled.set(schema, fn);
  }
  const copy = structuredClone(value);
  if (!fn(copy)) {
    const err = fn.errors?.[0];
    throw err ? new ValidationError(fieldOfSchemaError(err), reasonOfSchemaError(err)) : new ValidationError('(body)', 'invalid');
  }
  return copy as T;
}
