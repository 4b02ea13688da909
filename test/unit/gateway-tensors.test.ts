/**
 * The JSON → tensor decoding on the gateway's hot path: floats take a fast loop, and whatever is
 * not a plain number still gets the checked path's error.
 */
import { describe, expect, it } from 'vitest';
import { jsonToTensor } from '../../schemas/codecs/tensors.ts';

const float32 = { type: 'ndarray' as const, dtype: 'float32' as const, shape: [null, 4] };

describe('jsonToTensor', () => {
  it('stores float rows exactly as Float32Array.from does', () => {
    const rows = [[0.1, -2.5, 3e-8, 7], [1 / 3, 0, -0, 1e30]];
    const tensor = jsonToTensor('x', rows, float32);
    expect(tensor.shape).toEqual([2, 4]);
    expect(tensor.data).toEqual(Float32Array.from(rows.flat()));
    const f64 = jsonToTensor('x', rows, { ...float32, dtype: 'float64' });
    expect(Array.from(f64.data as Float64Array)).toEqual(rows.flat());
  });

  it('refuses a non-number, a deeper array and a ragged row in a float tensor with the element named', () => {
    expect(() => jsonToTensor('x', [[1, 2, '3', 4]], float32)).toThrow(/float32 elements \(numbers\)/);
    expect(() => jsonToTensor('x', [[1, 2, [3], 4]], float32)).toThrow(/a deeper array/);
    expect(() => jsonToTensor('x', [[1, 2, 3, 4], [1, 2, 3]], float32)).toThrow(/ragged/);
    expect(() => jsonToTensor('x', [[1, 2, 3, null]], float32)).toThrow(/float32 elements/);
  });

  it('still range-checks integer tensors', () => {
    const int8 = { type: 'ndarray' as const, dtype: 'int8' as const, shape: [2] };
    expect(Array.from(jsonToTensor('n', [-128, 127], int8).data as Int8Array)).toEqual([-128, 127]);
    expect(() => jsonToTensor('n', [1, 128], int8)).toThrow(/int8 elements/);
    expect(() => jsonToTensor('n', [1, 1.5], int8)).toThrow(/int8 elements/);
  });
});
