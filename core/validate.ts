import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ValidationError } from './errors.js';

// No type coercion: a string "32" where a number is expected is an error, not a guess.
const ajv = new Ajv({ allErrors: false, useDefaults: true, coerceTypes: false, strict: false });

const compiled = new WeakMap<object, ValidateFunction>();

function fieldOf(err: ErrorObject): string {
  const base = err.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const extra =
    err.keyword === 'required'
      ? (err.params as { missingProperty: string }).missingProperty
      : err.keyword === 'additionalProperties'
        ? (err.params as { additionalProperty: string }).additionalProperty
        : '';
  return [base, extra].filter(Boolean).join('.') || '(body)';
}

function reasonOf(err: ErrorObject): string {
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
    throw err ? new ValidationError(fieldOf(err), reasonOf(err)) : new ValidationError('(body)', 'invalid');
  }
  return copy as T;
}
