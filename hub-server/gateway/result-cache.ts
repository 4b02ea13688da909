/**
 * Memoization of run results, as DLHub found it to be one of its largest wins: keyed by servable
 * version and a canonical hash of method, inputs and parameters, bounded in bytes, least recently
 * used evicted first. Servables declared non-deterministic are never cached (the gateway asks).
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { HubMetrics } from './metrics.ts';

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

export function resultCacheKey(servable: string, version: number, method: string, inputs: unknown, parameters: unknown): string {
  const hash = createHash('sha256');
  hash.update(`${servable}@${version}#${method}\n`);
  hash.update(canonicalJson(inputs));
  hash.update('\n');
  hash.update(canonicalJson(parameters ?? {}));
  return hash.digest('base64url');
}

interface CachedResult {
  output: unknown;
  bytes: number;
}

export class ResultCache {
  private readonly lru: LRUCache<string, CachedResult> | undefined;

  constructor(maxBytes: number, private readonly metrics?: HubMetrics) {
    if (maxBytes <= 0) return;
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

  set(key: string, output: unknown): void {
    if (!this.lru) return;
    // The JSON length is a fair estimate of what the reply costs to hold and is cheap next to a run.
    const bytes = JSON.stringify(output)?.length ?? 16;
    if (bytes > (this.lru.maxSize ?? 0)) return;
    this.lru.set(key, { output, bytes });
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
  }
}
