/**
 * JSON → tensors (schemas/codecs/tensors.ts) against what a hostile or careless client sends: names of
 * Object.prototype's members where the hub looks names up, and numbers a model must not be given
 * (non-finite, or beyond the range of the declared float type). Each is the client's error, as
 * MODELHUB_INVALID_INPUTS naming the input, never a crash and never a silent null.
 */
import { describe, expect, it } from 'vitest';
import { HubError } from '../../schemas/errors.ts';
import type { Method, NdarrayArgument } from '../../schemas/metadata.ts';
import { checkJsonArgument, decodeInputs, dtypeFromV2, jsonToTensor } from '../../schemas/codecs/tensors.ts';

function refusal(run: () => unknown): HubError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(HubError);
    return error as HubError;
  }
  throw new Error('accepted what it should refuse');
}

const ndarray = (dtype: NdarrayArgument['dtype'], shape: (number | null)[] = [null]): NdarrayArgument => ({ type: 'ndarray', dtype, shape });
const twoInputs: Method = {
  input: { type: 'dict', properties: { a: ndarray('float32'), b: ndarray('float32') } },
  output: { type: 'any' },
};

describe('tensors from hostile JSON', () => {
  it("treats Object.prototype's names as unknown inputs and datatypes", () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      const extra = refusal(() => decodeInputs(twoInputs, 'tensors', { a: [1], b: [2], [name]: [3] }));
      expect(extra.code).toBe('MODELHUB_INVALID_INPUTS');
      expect(extra.details).toMatchObject({ input: name });
      // A missing input stays missing even when the client's object "has" it through its prototype.
      const missing = refusal(() => decodeInputs({ ...twoInputs, input: { type: 'dict', properties: { [name]: ndarray('float32') } } }, 'tensors', {}));
      expect(missing.code).toBe('MODELHUB_INVALID_INPUTS');
      expect(missing.message).toContain('given nothing');
      expect(() => checkJsonArgument('inputs', {}, { type: 'dict', properties: { [name]: { type: 'any' } } })).toThrow(/given nothing/);
      expect(dtypeFromV2(name)).toBeUndefined();
    }
    expect(dtypeFromV2('__proto__')).toBeUndefined();
    expect(dtypeFromV2('FP32')).toBe('float32');
  });

  it('refuses non-finite numbers and numbers beyond the float type, naming the input', () => {
    const cases: [NdarrayArgument['dtype'], number][] = [
      ['float32', Infinity],
      ['float32', -Infinity],
      ['float32', NaN],
      ['float32', 1e39],
      ['float32', -3.5e38],
      ['float64', Infinity],
      ['float64', NaN],
      ['float16', 65520],
      ['float16', -70000],
      ['float16', Infinity],
      ['int32', Infinity],
      ['int64', NaN],
      ['bool', NaN],
    ];
    for (const [dtype, value] of cases) {
      // In the middle of a row, so the fast path of float rows meets it after good numbers.
      const error = refusal(() => jsonToTensor('x', [[0.5, 1, value, 2]], ndarray(dtype, [null, 4])));
      expect(error.code, `${dtype} ${value}`).toBe('MODELHUB_INVALID_INPUTS');
      expect(error.details, `${dtype} ${value}`).toMatchObject({ input: 'x' });
    }
    // The largest numbers each type holds still go in, exactly as that type stores them.
    expect(Array.from(jsonToTensor('x', [3.4028234663852886e38, -65504], ndarray('float32')).data as Float32Array)).toEqual([Math.fround(3.4028234663852886e38), -65504]);
    expect(Array.from(jsonToTensor('x', [65504, -65504], ndarray('float16')).data as Float32Array)).toEqual([65504, -65504]);
    expect(Array.from(jsonToTensor('x', [1.7976931348623157e308], ndarray('float64')).data as Float64Array)).toEqual([1.7976931348623157e308]);
  });

  it('refuses non-finite numbers anywhere in the inputs of a JSON servable, by their path', () => {
    const method: Method = { input: { type: 'any' }, output: { type: 'any' } };
    const error = refusal(() => decodeInputs(method, 'json', { x: [1, 2, { y: -Infinity }], z: 3 }));
    expect(error.code).toBe('MODELHUB_INVALID_INPUTS');
    expect(error.details).toMatchObject({ input: 'inputs.x[2].y' });
    expect(refusal(() => decodeInputs({ input: { type: 'number' }, output: { type: 'any' } }, 'json', Infinity)).details).toMatchObject({ input: 'inputs' });
    expect(decodeInputs(method, 'json', { x: [1e308, -1e-308, 0], s: 'Infinity' })).toEqual({ kind: 'json', value: { x: [1e308, -1e-308, 0], s: 'Infinity' } });
  });
});
