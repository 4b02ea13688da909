/**
 * ajv for action bodies: one instance, compiled validators cached by a key the caller chooses
 * (a servable version's schema never changes once published).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS with a default export; under NodeNext the function sits on `.default`.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as typeof addFormatsModule.default;

export interface SchemaProblem {
  path: string;
  message: string;
}

const MAX_CACHED = 256;

export class SchemaValidator {
  private readonly ajv = new Ajv({ allErrors: true, strict: false });
  private readonly cache = new Map<string, ValidateFunction>();

  constructor() {
    addFormats(this.ajv);
  }

  /** The problems of `value` against `schema`; an empty list when it fits. */
  check(key: string, schema: object, value: unknown): SchemaProblem[] {
    let validate = this.cache.get(key);
    if (!validate) {
      validate = this.ajv.compile(schema);
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(key, validate);
    }
    if (validate(value)) return [];
    return summarize(validate.errors ?? []);
  }
}

/** ajv reports one error per failing array element; a 784-wide input needs a few lines, not 784. */
function summarize(errors: ErrorObject[]): SchemaProblem[] {
  const seen = new Set<string>();
  const problems: SchemaProblem[] = [];
  for (const error of errors) {
    const path = error.instancePath || '/';
    const message = error.message ?? 'is invalid';
    const key = `${path.replace(/\/\d+/g, '/*')} ${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ path, message });
    if (problems.length >= 10) break;
  }
  return problems;
}
