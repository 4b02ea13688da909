/**
 * Checks a metadata document against `schemas/metadata.ts` on the client, so a publish with a
 * missing title or a malformed ORCID fails before any upload, naming every failing path.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { createAjv } from '../schemas/validate.ts';
import { ArgumentType, ServableMetadata } from '../schemas/metadata.ts';
import { MetadataValidationError, type MetadataProblem } from './errors.ts';

let validator: ValidateFunction | undefined;

/**
 * TypeBox embeds the recursive `ArgumentType` (with its `$id`) at every use, which ajv refuses as
 * an ambiguous reference; register it once and point each use at it.
 */
function referenceArgumentType(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(referenceArgumentType);
  if (schema && typeof schema === 'object') {
    if ((schema as { $id?: unknown }).$id === ArgumentType.$id) return { $ref: ArgumentType.$id };
    return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, referenceArgumentType(v)]));
  }
  return schema;
}

function getValidator(): ValidateFunction {
  if (!validator) {
    const ajv = createAjv({ allErrors: true, verbose: true, strict: false });
    ajv.addSchema(ArgumentType);
    validator = ajv.compile(referenceArgumentType(ServableMetadata) as object);
  }
  return validator;
}

interface Candidate extends ErrorObject {
  dropped?: boolean;
}

const depth = (e: ErrorObject) => e.instancePath.split('/').length * 1000 + e.schemaPath.length;

/**
 * ajv reports every branch of a union; a person wants the branch they meant. Unions of constants
 * become "must be one of ..."; other unions keep only the branch with the fewest complaints.
 */
function condenseUnions(errors: ErrorObject[]): ErrorObject[] {
  const all: Candidate[] = errors.map((e) => ({ ...e }));
  const unions = all.filter((e) => e.keyword === 'anyOf').sort((a, b) => depth(b) - depth(a));
  for (const union of unions) {
    const prefix = `${union.schemaPath}/`;
    const inBranch = (e: Candidate) =>
      !e.dropped && e !== union && e.schemaPath.startsWith(prefix) && e.instancePath.startsWith(union.instancePath);
    const branches = Array.isArray(union.schema) ? (union.schema as Array<{ const?: unknown }>) : [];
    if (branches.length > 0 && branches.every((b) => b && 'const' in b)) {
      for (const e of all.filter(inBranch)) e.dropped = true;
      const allowed = branches.map((b) => String(b.const));
      union.message = `must be one of ${allowed.join(', ')}`;
      continue;
    }
    const byBranch = new Map<string, Candidate[]>();
    for (const e of all.filter(inBranch)) {
      const branch = e.schemaPath.slice(prefix.length).split('/')[0]!;
      byBranch.set(branch, [...(byBranch.get(branch) ?? []), e]);
    }
    const ranked = [...byBranch.values()].sort((a, b) => a.length - b.length);
    for (const group of ranked.slice(1)) for (const e of group) e.dropped = true;
    if (ranked.length > 0) union.dropped = true;
  }
  return all.filter((e) => !e.dropped);
}

function toProblem(error: ErrorObject): MetadataProblem {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required') {
    return { path: `${error.instancePath}/${String(params.missingProperty)}`, message: 'is required' };
  }
  if (error.keyword === 'additionalProperties') {
    return { path: `${error.instancePath}/${String(params.additionalProperty)}`, message: 'is not an allowed property' };
  }
  return { path: error.instancePath, message: error.message ?? error.keyword };
}

/** Every problem of a document, deduplicated, in document order; empty when it is valid. */
export function metadataProblems(document: unknown): MetadataProblem[] {
  const validate = getValidator();
  if (validate(document)) return [];
  const seen = new Set<string>();
  const problems: MetadataProblem[] = [];
  for (const problem of condenseUnions(validate.errors ?? []).map(toProblem)) {
    const key = `${problem.path}\u0000${problem.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      problems.push(problem);
    }
  }
  return problems;
}

export function assertValidMetadata(document: unknown): asserts document is ServableMetadata {
  const problems = metadataProblems(document);
  if (problems.length > 0) throw new MetadataValidationError(problems);
}
