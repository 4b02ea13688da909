/**
 * Declared argument types → JSON Schema: checked by validating real values with ajv, not by
 * comparing schema text.
 */
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { argumentTypeToJsonSchema } from '../../hub-server/use-cases/actions/input-schema.ts';
import { durationSeconds, secondsToDuration } from '../../hub-server/use-cases/actions/iso-duration.ts';
import type { ArgumentType } from '../../schemas/metadata.ts';

const ajv = new Ajv({ strict: false });
const fits = (argument: ArgumentType, value: unknown) => ajv.validate(argumentTypeToJsonSchema(argument), value);

describe('argumentTypeToJsonSchema', () => {
  it('makes an ndarray a nested array of its rank, pinning the fixed dimensions', () => {
    const mnist: ArgumentType = { type: 'ndarray', shape: [null, 784], dtype: 'float32' };
    const row = Array.from({ length: 784 }, (_, i) => i / 784);
    expect(fits(mnist, [row, row])).toBe(true);
    expect(fits(mnist, [row.slice(1)])).toBe(false);
    expect(fits(mnist, row)).toBe(false);
    expect(fits(mnist, [[...row.slice(1), 'x']])).toBe(false);
    expect(fits({ type: 'ndarray', shape: [], dtype: 'float64' }, 3.5)).toBe(true);
  });

  it('keeps integer dtypes integral and unsigned ones non-negative; bool takes true/false and 0/1', () => {
    expect(fits({ type: 'ndarray', shape: [2], dtype: 'int64' }, [1, -2])).toBe(true);
    expect(fits({ type: 'ndarray', shape: [2], dtype: 'int64' }, [1, 2.5])).toBe(false);
    expect(fits({ type: 'ndarray', shape: [1], dtype: 'uint8' }, [-1])).toBe(false);
    expect(fits({ type: 'ndarray', shape: [3], dtype: 'bool' }, [true, 0, 1])).toBe(true);
    expect(fits({ type: 'ndarray', shape: [1], dtype: 'string' }, ['a'])).toBe(true);
  });

  it('maps dict, list, tuple and scalars', () => {
    const multi: ArgumentType = {
      type: 'dict',
      properties: {
        input: { type: 'ndarray', shape: [null, null], dtype: 'float32' },
        sr: { type: 'integer' },
      },
    };
    expect(fits(multi, { input: [[0.1, 0.2]], sr: 16000 })).toBe(true);
    expect(fits(multi, { input: [[0.1]] })).toBe(false);
    expect(fits(multi, { input: [[0.1]], sr: 1, extra: 1 })).toBe(false);
    expect(fits({ type: 'list', item_type: { type: 'string' } }, ['a', 'b'])).toBe(true);
    expect(fits({ type: 'list', item_type: { type: 'string' } }, ['a', 1])).toBe(false);
    const pair: ArgumentType = { type: 'tuple', element_types: [{ type: 'string' }, { type: 'number' }] };
    expect(fits(pair, ['a', 1])).toBe(true);
    expect(fits(pair, ['a', 1, 2])).toBe(false);
    expect(fits({ type: 'any' }, { whatever: [1] })).toBe(true);
    expect(fits({ type: 'boolean' }, 'yes')).toBe(false);
  });
});

describe('ISO 8601 durations', () => {
  it('reads the durations the specification allows and writes them back', () => {
    expect(durationSeconds('P30D')).toBe(30 * 86400);
    expect(durationSeconds('PT1H30M')).toBe(5400);
    expect(durationSeconds('P1W')).toBe(7 * 86400);
    expect(durationSeconds('PT0.5S')).toBe(0.5);
    expect(() => durationSeconds('30 days')).toThrow(RangeError);
    expect(secondsToDuration(30 * 86400)).toBe('P30D');
    expect(secondsToDuration(7200)).toBe('PT2H');
    expect(secondsToDuration(1)).toBe('PT1S');
  });
});
