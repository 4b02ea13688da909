/**
 * JSONPath for flows: reading with `jsonpath-plus`, a syntax check that jsonpath-plus itself does
 * not make (it reads `$.a[` as `$.a`), writing at a ResultPath, and `.$` (and `.=`) Parameters.
 */
import { createRequire } from 'node:module';
import type { JSONPath as JSONPathFunction } from 'jsonpath-plus';

let loaded: typeof JSONPathFunction | undefined;
/** jsonpath-plus, loaded when a flow first reads a path (never by `import 'modelhub'` alone). */
function jsonPath(): typeof JSONPathFunction {
  loaded ??= (createRequire(import.meta.url)('jsonpath-plus') as { JSONPath: typeof JSONPathFunction }).JSONPath;
  return loaded;
}
import { evaluateExpression } from './expression.ts';

export class FlowPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlowPathError';
  }
}

/** Why `path` is not a JSONPath, or undefined when it is one. */
export function jsonPathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'is not a string';
  if (!path.startsWith('$')) return `"${path}" must start with "$"`;
  let i = 1;
  while (i < path.length) {
    const c = path[i];
    if (path.startsWith('..', i)) {
      i += 2;
      if (i >= path.length) return `"${path}" ends with ".."`;
      if (path[i] === '[') continue;
      const name = /^(\*|[A-Za-z0-9_$@-]+)/.exec(path.slice(i));
      if (!name) return `"${path}" has no name after ".." at ${i}`;
      i += name[0].length;
    } else if (c === '.') {
      const name = /^(\*|[A-Za-z0-9_$@-]+)/.exec(path.slice(i + 1));
      if (!name) return `"${path}" has no name after "." at ${i}`;
      i += 1 + name[0].length;
    } else if (c === '[') {
      const end = closingBracket(path, i);
      if (end < 0) return `"${path}" has an unclosed "[" at ${i}`;
      if (path.slice(i + 1, end).trim() === '') return `"${path}" has an empty "[]" at ${i}`;
      i = end + 1;
    } else {
      return `"${path}" has an unexpected "${c}" at ${i}`;
    }
  }
  return undefined;
}

function closingBracket(path: string, open: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < path.length; i += 1) {
    const c = path[i];
    if (quote) {
      if (c === '\\') i += 1;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '[' || c === '(') depth += 1;
    else if (c === ']' || c === ')') {
      depth -= 1;
      if (depth === 0) return c === ']' ? i : -1;
    }
  }
  return -1;
}

/** A path that names one place: only names and indices (what a ResultPath may be). */
export function isDefinitePath(path: string): boolean {
  return !/\.\.|\*|\[\s*\?|\[\s*\(|:|,/.test(path.replace(/'[^']*'|"[^"]*"/g, "''"));
}

/** The value at `path`; `found: false` when nothing matches. Indefinite paths give every match. */
export function readPath(data: unknown, path: string): { found: boolean; value: unknown } {
  const problem = jsonPathProblem(path);
  if (problem) throw new FlowPathError(`JSONPath ${problem}`);
  if (path === '$') return { found: true, value: data };
  const matches = jsonPath()({ path, json: data as object, wrap: true, eval: 'safe' }) as unknown[];
  if (isDefinitePath(path)) return matches.length > 0 ? { found: true, value: matches[0] } : { found: false, value: undefined };
  return { found: true, value: matches };
}

/** A copy of `data` with `value` at the definite `path` (`$` replaces everything). */
export function writePath(data: unknown, path: string, value: unknown): unknown {
  const problem = jsonPathProblem(path);
  if (problem) throw new FlowPathError(`ResultPath ${problem}`);
  if (!isDefinitePath(path)) throw new FlowPathError(`ResultPath "${path}" must name one place`);
  const keys = jsonPath().toPathArray(path).slice(1);
  if (keys.length === 0) return value;
  const root: Record<string, unknown> =
    data && typeof data === 'object' ? structuredClone(data as Record<string, unknown>) : {};
  let node: Record<string, unknown> = root;
  keys.forEach((key, index) => {
    if (index === keys.length - 1) {
      node[key] = value;
      return;
    }
    const next = node[key];
    if (!next || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  });
  return root;
}

/**
 * Parameters with every `"key.$": "<path>"` replaced by `"key": <value at path>`, and every
 * `"key.=": "<expression>"` by `"key": <its value over the state>`, at any depth. A path that
 * matches nothing, or an expression that cannot be evaluated, is an error naming the key.
 */
export function resolveParameters(template: unknown, data: unknown, where = 'Parameters'): unknown {
  if (Array.isArray(template)) return template.map((item, i) => resolveParameters(item, data, `${where}[${i}]`));
  if (!template || typeof template !== 'object') return template;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template as Record<string, unknown>)) {
    if (key.endsWith('.=')) {
      try {
        out[key.slice(0, -2)] = evaluateExpression(String(value), data);
      } catch (error) {
        throw new FlowPathError(`${where}.${key}: ${String(value)}: ${(error as Error).message}`);
      }
    } else if (key.endsWith('.$')) {
      const name = key.slice(0, -2);
      const { found, value: resolved } = readPath(data, String(value));
      if (!found) throw new FlowPathError(`${where}.${key}: ${String(value)} matched nothing in the flow's data`);
      out[name] = resolved;
    } else {
      out[key] = resolveParameters(value, data, `${where}.${key}`);
    }
  }
  return out;
}

/** Every `.=` expression in Parameters, with where it sits: for the validator. */
export function parameterExpressions(template: unknown, where = 'Parameters'): { where: string; expression: unknown }[] {
  if (Array.isArray(template)) return template.flatMap((item, i) => parameterExpressions(item, `${where}[${i}]`));
  if (!template || typeof template !== 'object') return [];
  return Object.entries(template as Record<string, unknown>).flatMap(([key, value]) =>
    key.endsWith('.=') ? [{ where: `${where}.${key}`, expression: value }] : parameterExpressions(value, `${where}.${key}`),
  );
}

/** Every `.$` reference in Parameters, with where it sits: for the validator. */
export function parameterPaths(template: unknown, where = 'Parameters'): { where: string; path: unknown }[] {
  if (Array.isArray(template)) return template.flatMap((item, i) => parameterPaths(item, `${where}[${i}]`));
  if (!template || typeof template !== 'object') return [];
  return Object.entries(template as Record<string, unknown>).flatMap(([key, value]) =>
    key.endsWith('.$') ? [{ where: `${where}.${key}`, path: value }] : parameterPaths(value, `${where}.${key}`),
  );
}
