/**
 * Result cache keys and byte-bounded LRU eviction, with the metrics they feed.
 */
import { describe, expect, it } from 'vitest';
import { createHubMetrics } from '../../hub-server/use-cases/gateway/metrics.ts';
import { canonicalJson, rawBodyKey, ResultCache, resultCacheKey } from '../../hub-server/use-cases/gateway/result-cache.ts';

const counter = async (metrics: ReturnType<typeof createHubMetrics>, event: string) =>
  (await metrics.cache.get()).values.find((v) => v.labels.event === event)?.value ?? 0;

describe('resultCacheKey', () => {
  const inputs = { input: [[0.25, -1, 3]], sr: 16000, options: { b: 1, a: [{ y: 2, x: 1 }] } };

  it('does not depend on the order of object keys, at any depth', () => {
    const reordered = { options: { a: [{ x: 1, y: 2 }], b: 1 }, sr: 16000, input: [[0.25, -1, 3]] };
    expect(resultCacheKey('a/m', 1, 'run', inputs, { t: 1, k: 2 })).toBe(resultCacheKey('a/m', 1, 'run', reordered, { k: 2, t: 1 }));
    expect(canonicalJson(reordered)).toBe('{"input":[[0.25,-1,3]],"options":{"a":[{"x":1,"y":2}],"b":1},"sr":16000}');
  });

  it('changes with the servable, version, method, inputs and parameters', () => {
    const base = resultCacheKey('a/m', 1, 'run', inputs, {});
    const variants = [
      resultCacheKey('a/n', 1, 'run', inputs, {}),
      resultCacheKey('a/m', 2, 'run', inputs, {}),
      resultCacheKey('a/m', 1, 'predict', inputs, {}),
      resultCacheKey('a/m', 1, 'run', { ...inputs, sr: 8000 }, {}),
      resultCacheKey('a/m', 1, 'run', { ...inputs, input: [[0.25, -1, 3.0000001]] }, {}),
      resultCacheKey('a/m', 1, 'run', inputs, { temperature: 0.5 }),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
    // No parameters and empty parameters are the same request.
    expect(resultCacheKey('a/m', 1, 'run', inputs, undefined)).toBe(base);
  });

  it('tells apart values that only look alike as text', () => {
    expect(resultCacheKey('a/m', 1, 'run', ['1'], {})).not.toBe(resultCacheKey('a/m', 1, 'run', [1], {}));
    expect(resultCacheKey('a/m', 1, 'run', [[1, 2]], {})).not.toBe(resultCacheKey('a/m', 1, 'run', [1, 2], {}));
  });
});

describe('ResultCache', () => {
  it('evicts least recently used entries to stay under its byte bound, and counts hits, misses and evictions', async () => {
    const metrics = createHubMetrics();
    // Each entry below is 100 bytes of JSON: room for three.
    const cache = new ResultCache(350, metrics);
    const output = (fill: string) => 'x'.repeat(98).replace(/^x/, fill);
    for (const key of ['a', 'b', 'c']) cache.set(key, output(key));
    expect(cache.bytes).toBe(300);
    expect(cache.get('a')).toBe(output('a')); // a is now the most recently used
    cache.set('d', output('d'));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(output('a'));
    expect(cache.get('c')).toBe(output('c'));
    expect(cache.get('d')).toBe(output('d'));
    expect(cache.bytes).toBeLessThanOrEqual(350);
    expect(await counter(metrics, 'eviction')).toBe(1);
    expect(await counter(metrics, 'hit')).toBe(4);
    expect(await counter(metrics, 'miss')).toBe(1);
    expect((await metrics.cacheBytes.get()).values[0]!.value).toBe(300);
  });

  it('never holds an output larger than the whole cache, and holds nothing when sized 0', () => {
    const cache = new ResultCache(50);
    cache.set('big', 'y'.repeat(100));
    expect(cache.get('big')).toBeUndefined();
    const off = new ResultCache(0);
    off.set('k', 1);
    expect(off.enabled).toBe(false);
    expect(off.get('k')).toBeUndefined();
  });

  it('answers a raw-body alias with the stored JSON while its entry lives, and counts it as a hit', async () => {
    const metrics = createHubMetrics();
    const cache = new ResultCache(250, metrics);
    const body = '{"inputs":[[1,2]]}';
    const alias = rawBodyKey('a/m', 1, body);
    expect(alias).not.toBe(rawBodyKey('a/m', 2, body));
    cache.alias(alias, 'k'); // no entry yet: nothing to lead to
    expect(cache.getJsonByAlias(alias)).toBeUndefined();
    cache.set('k', [[0.5, 0.25]]);
    cache.alias(alias, 'k');
    expect(cache.getJsonByAlias(alias)).toBe('[[0.5,0.25]]');
    expect(await counter(metrics, 'hit')).toBe(1);
    cache.set('big', 'z'.repeat(240)); // evicts k
    expect(cache.getJsonByAlias(alias)).toBeUndefined();
    expect(await counter(metrics, 'hit')).toBe(1);
  });
});

describe('resultCacheKey on tensors', () => {
  it('hashes number arrays by shape and value, and mixed arrays by their JSON', () => {
    const key = (inputs: unknown) => resultCacheKey('a/m', 1, 'run', inputs, {});
    expect(key([[1, 2], [3, 4]])).not.toBe(key([[1, 2, 3, 4]]));
    expect(key([[1, 2], [3, 4]])).not.toBe(key([[1, 2], [3, 5]]));
    expect(key([[1, 2], [3]])).toBe(key([[1, 2], [3]])); // ragged: the JSON path, still stable
    expect(key([1, '2'])).not.toBe(key([1, 2]));
    expect(key({ b: [1.5], a: [[2]] })).toBe(key({ a: [[2]], b: [1.5] }));
  });
});
