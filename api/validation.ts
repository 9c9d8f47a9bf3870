import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';

// ajv-formats is CommonJS; under NodeNext its default import is the module, the plugin is `.default`.
const addFormats = addFormatsModule.default;

/**
 * Request validation. Bodies and path parameters are validated as sent: no type coercion, no removal
 * of unknown fields, no defaults (the stores fill defaults), so `"32"` for a number or an unknown
 * field is a 400 that names the field. Only query strings, which are text by nature, are coerced
 * (`?limit=10` -> 10, `?force=true` -> true) and get their defaults.
 */
const strict = new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, strict: false });
const query = new Ajv({ coerceTypes: true, removeAdditional: false, useDefaults: true, allErrors: false, strict: false });
addFormats(strict);
addFormats(query);

export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'querystring' ? query : strict;
  return ajv.compile(schema as object);
};
