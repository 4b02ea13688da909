/**
 * One ajv instance for the documents the hub validates outside fastify's route schemas (the
 * publish metadata arrives inside multipart). `allErrors` so a publisher sees every failing path
 * at once, not one per attempt.
 */
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, Options } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';
import { HubError, type ErrorName } from './errors.ts';
import { ArgumentType } from './metadata.ts';

/**
 * A new ajv with the standard formats. ajv is loaded on the first validation rather than with the
 * module, so that a client that never validates (`import 'modelhub'`) does not pay for it.
 */
export function createAjv(options: Options): Ajv {
  const load = createRequire(import.meta.url);
  const { Ajv: AjvClass } = load('ajv') as typeof import('ajv');
  const addFormats = load('ajv-formats') as typeof import('ajv-formats').default;
  const ajv = new AjvClass(options);
  addFormats(ajv);
  return ajv;
}

let shared: Ajv | undefined;
function sharedAjv(): Ajv {
  if (!shared) {
    shared = createAjv({ allErrors: true, strict: false, useDefaults: false });
    // Referenced by `$ref` from every method's input and output (schemas/metadata.ts).
    shared.addSchema(ArgumentType);
  }
  return shared;
}

export interface ValidationProblem {
  path: string;
  message: string;
}

const compiled = new WeakMap<TSchema, ReturnType<Ajv['compile']>>();

export function validationProblems<T extends TSchema>(schema: T, value: unknown): ValidationProblem[] {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = sharedAjv().compile(schema);
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
