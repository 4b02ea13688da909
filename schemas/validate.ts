/**
 * One ajv instance for the documents the hub validates outside fastify's route schemas (the
 * publish metadata arrives inside multipart). `allErrors` so a publisher sees every failing path
 * at once, not one per attempt.
 */
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Static, TSchema } from '@sinclair/typebox';
import { HubError, type ErrorName } from './errors.ts';
import { ArgumentType } from './metadata.ts';

// ajv-formats is CommonJS with a default export; under NodeNext its function arrives as `.default`.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false });
addFormats(ajv);
// Referenced by `$ref` from every method's input and output (schemas/metadata.ts).
ajv.addSchema(ArgumentType);

export interface ValidationProblem {
  path: string;
  message: string;
}

const compiled = new WeakMap<TSchema, ReturnType<typeof ajv.compile>>();

export function validationProblems<T extends TSchema>(schema: T, value: unknown): ValidationProblem[] {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(value)) return [];
  return (validate.errors ?? [])
    // A union reports a failure for each branch; the keyword that says "none matched" is enough.
    .filter((error: ErrorObject) => !(error.keyword === 'const' && error.instancePath.endsWith('/type')))
    .map((error: ErrorObject) => ({
      path: error.instancePath === '' ? '/' : error.instancePath,
      message:
        error.keyword === 'additionalProperties'
          ? `has an unknown property "${(error.params as { additionalProperty: string }).additionalProperty}"`
          : `${error.message ?? 'is invalid'}`,
    }));
}

export function assertValid<T extends TSchema>(schema: T, value: unknown, errorName: ErrorName): Static<T> {
  const problems = validationProblems(schema, value);
  if (problems.length > 0) {
    const summary = problems.slice(0, 5).map((p) => `${p.path} ${p.message}`).join('; ');
    throw new HubError(errorName, `${problems.length} problem(s): ${summary}`, { details: problems });
  }
  return value as Static<T>;
}
