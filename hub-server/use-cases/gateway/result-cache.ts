/**
 * Memoization of run results, as DLHub found it to be one of its largest wins: keyed by servable
 * version and a canonical hash of method, inputs and parameters, bounded in bytes, least recently
 * used evicted first. Servables declared non-deterministic are never cached (the gateway asks).
 */
import { createHash, type Hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { HubMetrics } from './metrics.ts';
import { NumberArray } from '../../../schemas/codecs/json-number-arrays.ts';

/** Whether an array holds no objects at any depth: then the engine's JSON.stringify is canonical already. */
function objectFree(array: unknown[]): boolean {
  for (let i = 0; i < array.length; i++) {
    const element = array[i];
    if (typeof element === 'object' && element !== null && !(Array.isArray(element) && objectFree(element))) return false;
  }
  return true;
}

/** JSON with object keys sorted, so that {a,b} and {b,a} hash alike. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  // Tensors arrive as nested arrays of numbers: stringify them natively, not element by element.
  if (Array.isArray(value)) return objectFree(value) ? JSON.stringify(value) : `[${value.map(canonicalJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
}

/** The shape of an array of numbers nested to any depth, or undefined if it is not one (ragged, empty, other values). */
function numericShape(value: unknown[]): number[] | undefined {
  const shape: number[] = [];
  let cursor: unknown = value;
  while (Array.isArray(cursor)) {
    if (cursor.length === 0) return undefined;
    shape.push(cursor.length);
    cursor = cursor[0];
  }
  return typeof cursor === 'number' ? shape : undefined;
}

/** Flatten a nested array of numbers of the given shape into `out`; false when it is not one. */
function flattenNumbers(value: unknown[], shape: number[], depth: number, out: Float64Array, offset: { at: number }): boolean {
  if (value.length !== shape[depth]) return false;
  if (depth === shape.length - 1) {
    for (let i = 0; i < value.length; i++) {
      const element = value[i];
      if (typeof element !== 'number') return false;
      out[offset.at++] = element;
    }
    return true;
  }
  for (let i = 0; i < value.length; i++) {
    const element = value[i];
    if (!Array.isArray(element) || !flattenNumbers(element, shape, depth + 1, out, offset)) return false;
  }
  return true;
}

/**
 * Feed a value's canonical form to a hash: objects with sorted keys, and arrays of numbers (tensors)
 * as their shape and float64 bytes. Turning hundreds of floats into decimal text was the largest
 * single cost of a request in the profile; their bytes are exact and cost nearly nothing to hash.
 */
function hashCanonical(hash: Hash, value: unknown): void {
  if (value === null || typeof value !== 'object') {
    hash.update(JSON.stringify(value) ?? 'null');
    return;
  }
  if (value instanceof NumberArray) {
    // The fast JSON path's doubles, hashed as the nested arrays below would be: the same key.
    const values = value.values;
    hash.update(`#[${value.shape.join(',')}]`);
    hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    return;
  }
  if (Array.isArray(value)) {
    const shape = numericShape(value);
    if (shape) {
      const flat = new Float64Array(shape.reduce((a, b) => a * b, 1));
      if (flattenNumbers(value, shape, 0, flat, { at: 0 })) {
        // `#` cannot start JSON text, so a tensor never hashes like some other value's JSON.
        hash.update(`#[${shape.join(',')}]`);
        hash.update(new Uint8Array(flat.buffer));
        return;
      }
    }
    hash.update('[');
    value.forEach((element, i) => {
      if (i > 0) hash.update(',');
      hashCanonical(hash, element);
    });
    hash.update(']');
    return;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
  hash.update('{');
  keys.forEach((key, i) => {
    hash.update(`${i > 0 ? ',' : ''}${JSON.stringify(key)}:`);
    hashCanonical(hash, record[key]);
  });
  hash.update('}');
}

export function resultCacheKey(servable: string, version: number, method: string, inputs: unknown, parameters: unknown): string {
  const hash = createHash('sha256');
  hash.update(`${servable}@${version}#${method}\n`);
  hashCanonical(hash, inputs);
  hash.update('\n');
  hashCanonical(hash, parameters ?? {});
  return hash.digest('base64url');
}

/**
 * The key of a request body's exact text, for answering a repeated request without parsing it. It
 * leads to the canonical key (an alias), so reordered bodies still meet the same entry.
 */
export function rawBodyKey(servable: string, version: number, body: string): string {
  return createHash('sha256').update(`${servable}@${version}\n`).update(body).digest('base64url');
}

/** The run that computed a cached output: provenance of the replies the entry serves. */
export interface CacheOrigin {
  run_id: string;
  started_at: string;
  duration_ms: number;
}

interface CachedResult {
  output: unknown;
  origin?: CacheOrigin;
  /** The output as JSON, made once when stored: a hit is answered with it, not serialized again. */
  json: string;
  bytes: number;
}

/** Raw-body aliases kept: each is two short strings, so this bounds them at a few MB. */
const MAX_ALIASES = 16_384;

export class ResultCache {
  private readonly lru: LRUCache<string, CachedResult> | undefined;
  private readonly aliases: LRUCache<string, string> | undefined;

  constructor(maxBytes: number, private readonly metrics?: HubMetrics) {
    if (maxBytes <= 0) return;
    this.aliases = new LRUCache<string, string>({ max: MAX_ALIASES });
    this.lru = new LRUCache<string, CachedResult>({
      maxSize: maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.bytes),
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') metrics?.cache.inc({ event: 'eviction' });
      },
    });
  }

  get enabled(): boolean {
    return this.lru !== undefined;
  }

  get(key: string): unknown | undefined {
    if (!this.lru) return undefined;
    const hit = this.lru.get(key);
    this.metrics?.cache.inc({ event: hit ? 'hit' : 'miss' });
    return hit?.output;
  }

  /** The run that computed the entry under `key` (not counted as a hit). */
  origin(key: string): CacheOrigin | undefined {
    return this.lru?.peek(key)?.origin;
  }

  /**
   * The JSON of the output stored for a raw-body key (see `rawBodyKey`), counted as a hit; undefined,
   * and not counted, when the alias or its entry is gone: the caller then parses and asks `get`.
   */
  getJsonByAlias(alias: string): string | undefined {
    const key = this.aliases?.get(alias);
    const hit = key === undefined ? undefined : this.lru?.get(key);
    if (hit) this.metrics?.cache.inc({ event: 'hit' });
    return hit?.json;
  }

  /** Let a raw-body key lead to a stored entry. */
  alias(alias: string, key: string): void {
    if (this.lru?.has(key)) this.aliases?.set(alias, key);
  }

  set(key: string, output: unknown, origin?: CacheOrigin): void {
    if (!this.lru) return;
    const json = JSON.stringify(output) ?? 'null';
    // The JSON length is a fair estimate of what the reply costs to hold and is cheap next to a run.
    const bytes = json.length;
    if (bytes > (this.lru.maxSize ?? 0)) return;
    this.lru.set(key, { output, json, bytes, ...(origin ? { origin } : {}) });
    this.metrics?.cacheBytes.set(this.lru.calculatedSize ?? 0);
  }

  get size(): number {
    return this.lru?.size ?? 0;
  }

  get bytes(): number {
    return this.lru?.calculatedSize ?? 0;
  }

  clear(): void {
    this.lru?.clear();
    this.aliases?.clear();
  }
}
