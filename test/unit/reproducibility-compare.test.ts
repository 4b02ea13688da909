/**
 * How a reproducibility check compares outputs (docs/provenance.md), which examples a document
 * declares, and MODELHUB_VERIFY_INTERVAL's durations.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../hub-server/config.ts';
import { compareOutputs, declaredExamples, difference } from '../../hub-server/use-cases/reproducibility.ts';
import { publishedDocument } from '../contract/metadata-fixtures.ts';

describe('comparing outputs', () => {
  it('takes the largest absolute difference, and Infinity where shape or type changed', () => {
    expect(difference([[1, 2], [3, 4]], [[1, 2.5], [3, 4]])).toBe(0.5);
    expect(difference([1, 2], [1, 2, 3])).toBe(Infinity);
    expect(difference({ a: 1 }, { b: 1 })).toBe(Infinity);
    expect(difference('cat', 'cat')).toBe(0);
    expect(difference('cat', 'dog')).toBe(Infinity);
    expect(difference(Number.NaN, Number.NaN)).toBe(0);
  });

  it('applies a tolerance per named output, or one for all', () => {
    const expected = { y: [0.1, 0.2], z: [1, 2] };
    const actual = { y: [0.1, 0.23], z: [1, 2.0000001] };
    expect(compareOutputs(expected, actual, { y: 0.05 })).toMatchObject({ ok: true });
    expect(compareOutputs(expected, actual, { y: 0.01 })).toMatchObject({ ok: false, output: 'y' });
    expect(compareOutputs(expected, actual, 1e-9)).toMatchObject({ ok: false, output: 'y' });
    expect(compareOutputs([[1, 2]], [[1, 2]], undefined)).toEqual({ ok: true, output: 'output', difference: 0 });
    expect(compareOutputs([[1, 2]], [[1, 2.1]], undefined)).toMatchObject({ ok: false, output: 'output' });
  });
});

describe('declared examples', () => {
  it('reads method_details.examples, records outputs left out, and reports malformed ones', () => {
    const document = publishedDocument({ owner: 'lab', name: 'x', title: 'X' });
    document.servable.methods.run.method_details = {
      examples: [{ name: 'a', inputs: [[1]], output: [[2]], tolerance: 0.1 }, { inputs: [[3]] }, { output: 1 }, { inputs: 1, tolerance: -1 }],
    };
    const { examples, problems } = declaredExamples(document);
    expect(examples).toEqual([
      { name: 'a', method: 'run', inputs: [[1]], expected: [[2]], tolerance: 0.1, source: 'metadata' },
      { name: 'run#2', method: 'run', inputs: [[3]], source: 'warm-up' },
    ]);
    expect(problems).toEqual(['methods.run.method_details.examples[2] has no inputs', 'methods.run.method_details.examples[3].tolerance must be a number >= 0 or an object of them by output name']);
  });

  it('falls back to the warm-up input', () => {
    const document = publishedDocument({ owner: 'lab', name: 'x', title: 'X' });
    document.servable.methods.run.method_details = { example_inputs: [[1, 2]] };
    expect(declaredExamples(document).examples).toEqual([{ name: 'warm-up', method: 'run', inputs: [[1, 2]], source: 'warm-up' }]);
  });
});

describe('MODELHUB_VERIFY_INTERVAL', () => {
  it('takes durations, 0 for never, and refuses anything else naming the variable', () => {
    expect(loadConfig({}).verifyIntervalMs).toBe(86_400_000);
    expect(loadConfig({ MODELHUB_VERIFY_INTERVAL: '30m' }).verifyIntervalMs).toBe(1_800_000);
    expect(loadConfig({ MODELHUB_VERIFY_INTERVAL: '90' }).verifyIntervalMs).toBe(90_000);
    expect(loadConfig({ MODELHUB_VERIFY_INTERVAL: '0' }).verifyIntervalMs).toBe(0);
    for (const bad of ['soon', '-1h', '10ms', '400d']) {
      expect(() => loadConfig({ MODELHUB_VERIFY_INTERVAL: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ MODELHUB_VERIFY_INTERVAL: bad })).toThrow(/MODELHUB_VERIFY_INTERVAL/);
    }
  });
});
