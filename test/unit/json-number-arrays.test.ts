/**
 * The fast JSON path for tensors (schemas/codecs/json-number-arrays.ts) against JSON.parse, the
 * independent reference: on every text it either gives exactly what JSON.parse gives (number arrays
 * in the named places as their shape and doubles, bit for bit, -0 included) or gives up, and it
 * gives up on every text JSON.parse refuses, so the general parser makes every error.
 */
import { describe, expect, it } from 'vitest';
import { NumberArray, parseWithNumberArrays, RUN_BODY_NUMBER_ARRAYS, V2_BODY_NUMBER_ARRAYS } from '../../schemas/codecs/json-number-arrays.ts';

/** A deterministic generator (mulberry32), so a failure can be replayed. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Replace NumberArrays by the nested arrays they stand for, checking their values are exact doubles. */
function materialize(value: unknown): unknown {
  if (value instanceof NumberArray) return value.toNested();
  if (Array.isArray(value)) return value.map(materialize);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, materialize(v)]));
  return value;
}

/** Equal as JSON.parse results, with -0 and 0 told apart (Object.is on every number). */
function sameJson(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' || typeof b === 'number') return Object.is(a, b);
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keysA = Object.keys(a);
    const keysB = Object.keys(b);
    return keysA.length === keysB.length && keysA.every((k, i) => k === keysB[i] && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

const reference = (text: string): { ok: true; value: unknown } | { ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
};

/** The property every text must have: equal to JSON.parse, or given up; never a value where JSON.parse refuses. */
function expectAgreement(text: string, places = RUN_BODY_NUMBER_ARRAYS): 'fast' | 'gave up' {
  const fast = parseWithNumberArrays(text, places);
  const expected = reference(text);
  if (fast === undefined) return 'gave up';
  if (!expected.ok) throw new Error(`the fast path took a text JSON.parse refuses: ${text.slice(0, 200)}`);
  if (!sameJson(materialize(fast), expected.value)) {
    throw new Error(`different results for ${text.slice(0, 200)}: ${JSON.stringify(materialize(fast)).slice(0, 200)} vs ${JSON.stringify(expected.value).slice(0, 200)}`);
  }
  return 'fast';
}

/** Number spellings JSON allows, and near misses it does not. */
function numberText(random: () => number): string {
  const pick = <T,>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  switch (Math.floor(random() * 12)) {
    case 0:
      return String((random() - 0.5) * 10 ** Math.floor(random() * 40 - 20)); // JSON.stringify's own spelling
    case 1:
      return JSON.stringify(random()); // full double precision
    case 2:
      return String(Math.floor(random() * 2 ** 53) * (random() < 0.5 ? -1 : 1));
    case 3:
      return `${pick(['', '-'])}${Math.floor(random() * 1000)}${pick(['', `.${Math.floor(random() * 1e6)}`])}${pick(['', 'e', 'E'])}${pick(['', '+', '-'])}${Math.floor(random() * 400)}`;
    case 4:
      return pick(['0', '-0', '0.0', '-0.0', '0e0', '-0e-0', '1e400', '-1e400', '1e-400', '2.2250738585072014e-308', '4.9e-324', '1.7976931348623157e308', '1.7976931348623159e308', '9007199254740993', '9007199254740992', '0.1', '0.30000000000000004']);
    case 5:
      return `${Math.floor(random() * 10)}.${Array.from({ length: 15 + Math.floor(random() * 30) }, () => Math.floor(random() * 10)).join('')}`; // more digits than a double holds
    case 6:
      return pick(['NaN', 'Infinity', '-Infinity', '+1', '01', '.5', '5.', '1e', '1e+', '-', '0x10', '1_000', 'nan', '"1"', 'true', 'null', '[]', '1.5e3.2', '--1']);
    case 7:
      return `${Math.floor(random() * 1e6)}e${Math.floor(random() * 50) - 25}`;
    case 8:
      return Math.fround(random() * 100 - 50).toString();
    case 9:
      return `${pick(['', '-'])}0.${'0'.repeat(Math.floor(random() * 30))}${Math.floor(random() * 1e9)}`;
    case 10:
      return `${Math.floor(random() * 1e6)}${'0'.repeat(Math.floor(random() * 25))}`;
    default:
      return String(Math.floor(random() * 255));
  }
}

const space = (random: () => number): string => ['', '', '', ' ', '\n', '\t', '\r\n  '][Math.floor(random() * 7)]!;

/** A nested array of the given shape, occasionally broken (ragged, a trailing comma, an empty row, another value). */
function arrayText(random: () => number, shape: number[], damage: boolean): string {
  const build = (depth: number): string => {
    let size = shape[depth]!;
    if (damage && random() < 0.02) size += random() < 0.5 ? -1 : 1;
    const items: string[] = [];
    for (let i = 0; i < size; i++) items.push(depth === shape.length - 1 ? numberText(random) : build(depth + 1));
    let text = `[${space(random)}${items.join(`${space(random)},${space(random)}`)}${space(random)}`;
    if (damage && random() < 0.01) text += ',';
    return `${text}]`;
  };
  return build(0);
}

describe('the fast JSON path for tensors agrees with JSON.parse', () => {
  it('on 3,000 generated run bodies of ranks 1 to 4, spellings of numbers valid and not, whitespace, damage', () => {
    const random = generator(20);
    let fast = 0;
    let gaveUp = 0;
    for (let n = 0; n < 3000; n++) {
      const rank = 1 + Math.floor(random() * 4);
      const shape = Array.from({ length: rank }, () => 1 + Math.floor(random() * (rank > 2 ? 4 : 12)));
      const damage = random() < 0.3;
      const text = `${space(random)}{${space(random)}"inputs"${space(random)}:${space(random)}${arrayText(random, shape, damage)}${space(random)}}${space(random)}`;
      if (expectAgreement(text) === 'fast') fast++;
      else gaveUp++;
    }
    // Both sides of the property were exercised.
    expect(fast).toBeGreaterThan(300);
    expect(gaveUp).toBeGreaterThan(300);
  });

  it('reads every double exactly: 20,000 random doubles of every magnitude, as JSON.stringify writes them', () => {
    const random = generator(7);
    const view = new DataView(new ArrayBuffer(8));
    const doubles: number[] = [];
    while (doubles.length < 20_000) {
      // Random bit patterns: every exponent and mantissa, not only "nice" decimals.
      view.setUint32(0, Math.floor(random() * 2 ** 32));
      view.setUint32(4, Math.floor(random() * 2 ** 32));
      const value = view.getFloat64(0);
      if (Number.isFinite(value)) doubles.push(value);
    }
    doubles.push(-0, 0, 5e-324, -5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, 2 ** 53 + 2, 0.1, 1 / 3);
    const text = `{"inputs":${JSON.stringify(doubles).replace('[0,', '[-0,')}}`;
    expect(expectAgreement(text)).toBe('fast');
    const parsed = parseWithNumberArrays(`{"inputs":[${doubles.map((d) => (Object.is(d, -0) ? '-0' : String(d))).join(',')}]}`, RUN_BODY_NUMBER_ARRAYS) as { inputs: NumberArray };
    expect(parsed.inputs.shape).toEqual([doubles.length]);
    parsed.inputs.values.forEach((v, i) => expect(Object.is(v, doubles[i])).toBe(true));
  });

  it('takes a huge array (a million floats) into one Float64Array', () => {
    const random = generator(3);
    const values = Array.from({ length: 1_000_000 }, () => random());
    const parsed = parseWithNumberArrays(`{"inputs":[[${values.join(',')}]]}`, RUN_BODY_NUMBER_ARRAYS) as { inputs: NumberArray };
    expect(parsed.inputs.shape).toEqual([1, 1_000_000]);
    expect(parsed.inputs.values.every((v, i) => v === values[i])).toBe(true);
  });

  it('gives up on what JSON.parse refuses, and on what the general path must judge', () => {
    const refused = [
      '{"inputs":[[1,2,]]}', // trailing comma
      '{"inputs":[[1,2]],}',
      '{"inputs":[[NaN]]}',
      '{"inputs":[[Infinity]]}',
      '{"inputs":[[1,2]]',
      '{"inputs":[[1 2]]}',
      '{"inputs":[[01]]}',
      '{"inputs":[[.5]]}',
      '{"inputs":[[1.]]}',
      '{"inputs":[[+1]]}',
      "{'inputs':[[1]]}",
      '{"inputs":[[1]]} x',
      '',
      ' ',
      '{"a":"\u0001"}',
      '{"a":"\\x"}',
      '{"a":tru}',
      '\ufeff{"inputs":[[1]]}',
    ];
    for (const text of refused) expect(parseWithNumberArrays(text, RUN_BODY_NUMBER_ARRAYS), text).toBeUndefined();
    // Valid JSON the fast path leaves to the general one: its checks and errors decide.
    const judged = [
      '{"inputs":[[1e400]]}', // Infinity: refused with the hub's own message
      '{"inputs":[[-1e400, 2]]}',
      '{"__proto__":{"x":1},"inputs":[[1]]}', // fastify's parser refuses this with its own error
      `{"inputs":${'['.repeat(65)}1${']'.repeat(65)}}`, // rank beyond the fast path's 64
      `${'{"a":'.repeat(70)}1${'}'.repeat(70)}`, // nesting beyond its 64
      `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    ];
    for (const text of judged) {
      expect(JSON.parse(text.startsWith('{"__proto__"') ? '{}' : text)).toBeDefined();
      expect(parseWithNumberArrays(text, RUN_BODY_NUMBER_ARRAYS), text.slice(0, 80)).toBeUndefined();
    }
    // Arrays there that are not rectangular arrays of numbers come back as JSON.parse's arrays, for
    // the code that takes the body to judge (and refuse with its errors) as before.
    for (const inputs of ['[[1,2],[3]]', '[[1,2],3]', '[[1,[2]],[3,4]]', '[]', '[[]]', '[[1,"2"]]', '[[1,null]]', '[[true]]']) {
      const parsed = parseWithNumberArrays(`{"inputs":${inputs}}`, RUN_BODY_NUMBER_ARRAYS) as { inputs: unknown };
      expect(parsed.inputs, inputs).toEqual(JSON.parse(inputs));
    }
  });

  it('reads -0, exponents and white space as JSON.parse does', () => {
    const cases = ['[-0]', '[-0.0e5]', '[1E2, 1e+2, 1e-2, 100e-2, 1.5E-7]', '[\n1 ,\t2\r\n]', '[[ 1 , 2 ] , [ 3 , 4 ]]', '[123456789012345678901234567890]', '[0.1e-30, 7e22, 7e23, 123e-25]'];
    for (const array of cases) {
      const text = `{"inputs":${array}}`;
      expect(expectAgreement(text), text).toBe('fast');
    }
    const minusZero = parseWithNumberArrays('{"inputs":[-0]}', RUN_BODY_NUMBER_ARRAYS) as { inputs: NumberArray };
    expect(Object.is(minusZero.inputs.values[0], -0)).toBe(true);
  });

  it('makes NumberArrays only where asked, and everything else as JSON.parse does', () => {
    const text = '{"id":"a\\u00e9\\n","parameters":{"inputs":[1,2],"flag":true,"none":null,"list":[1,"x",{"y":[]}]},"inputs":[[1,2],[3,4]],"constructor":1}';
    const parsed = parseWithNumberArrays(text, RUN_BODY_NUMBER_ARRAYS) as Record<string, unknown>;
    expect(parsed.inputs).toBeInstanceOf(NumberArray);
    expect((parsed.parameters as Record<string, unknown>).inputs).toEqual([1, 2]); // a plain array: not at the top level
    expect(sameJson(materialize(parsed), JSON.parse(text))).toBe(true);
    expect(Object.hasOwn(parsed, 'constructor')).toBe(true);
    // JSON.stringify sees the nested arrays.
    expect(JSON.parse(JSON.stringify(parsed))).toEqual(JSON.parse(text));

    const v2 = '{"id":"7","inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2,3,4.5]},{"name":"s","shape":[1],"datatype":"BYTES","data":["a"]}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]}';
    const request = parseWithNumberArrays(v2, V2_BODY_NUMBER_ARRAYS) as { inputs: { data: unknown; shape: unknown }[] };
    expect(request.inputs[0]!.data).toBeInstanceOf(NumberArray);
    expect(Array.from((request.inputs[0]!.data as NumberArray).values)).toEqual([1, 2, 3, 4.5]);
    expect(request.inputs[0]!.shape).toEqual([2, 2]);
    // A BYTES input's strings are not numbers: its data is the plain array JSON.parse makes.
    expect(request.inputs[1]!.data).toEqual(['a']);
    expect(sameJson(materialize(request), JSON.parse(v2))).toBe(true);
    expect(expectAgreement(v2.replace('"data":[1,2,3,4.5]', '"data":[[1,2],[3,4.5]]'), V2_BODY_NUMBER_ARRAYS)).toBe('fast');
  });

  it('agrees on 2,000 generated v2 bodies', () => {
    const random = generator(2);
    let fast = 0;
    for (let n = 0; n < 2000; n++) {
      const shape = [1 + Math.floor(random() * 3), 1 + Math.floor(random() * 8)];
      const data = random() < 0.5 ? arrayText(random, [shape[0]! * shape[1]!], random() < 0.3) : arrayText(random, shape, random() < 0.3);
      const extra = random() < 0.3 ? `,"parameters":{"binary_data_output":${random() < 0.5}}` : '';
      const text = `{"id":"${n}","inputs":[{"name":"input","shape":[${shape}],"datatype":"FP32",${space(random)}"data":${space(random)}${data}}]${extra}}`;
      if (expectAgreement(text, V2_BODY_NUMBER_ARRAYS) === 'fast') fast++;
    }
    expect(fast).toBeGreaterThan(200);
  });
});

describe('what the hub makes of a fast-parsed array is what it makes of JSON.parse', () => {
  it('the same tensor, the same errors and the same result cache key', async () => {
    const { jsonToTensor } = await import('../../schemas/codecs/tensors.ts');
    const { resultCacheKey } = await import('../../hub-server/use-cases/gateway/result-cache.ts');
    const outcome = (f: () => unknown) => {
      try {
        return { value: f() };
      } catch (error) {
        return { error: (error as Error).message };
      }
    };
    const declared = [
      { type: 'ndarray' as const, dtype: 'float32' as const, shape: [null, 3] },
      { type: 'ndarray' as const, dtype: 'float64' as const, shape: [2, 3] },
      { type: 'ndarray' as const, dtype: 'float32' as const, shape: [null, 4] },
      { type: 'ndarray' as const, dtype: 'int32' as const, shape: [null, 3] },
    ];
    for (const inputs of ['[[1,2,3],[4,5,6]]', '[[1e39,2,3]]', '[[0.1,-0,3.5e-3]]', '[1,2,3]', '[[1,2.5,3]]']) {
      const text = `{"inputs":${inputs}}`;
      const fast = (parseWithNumberArrays(text, RUN_BODY_NUMBER_ARRAYS) as { inputs: unknown }).inputs;
      const plain = (JSON.parse(text) as { inputs: unknown }).inputs;
      expect(fast).toBeInstanceOf(NumberArray);
      for (const type of declared) expect(outcome(() => jsonToTensor('x', fast, type)), `${inputs} as ${JSON.stringify(type)}`).toEqual(outcome(() => jsonToTensor('x', plain, type)));
      expect(resultCacheKey('a/b', 1, 'run', fast, {})).toBe(resultCacheKey('a/b', 1, 'run', plain, {}));
    }
  });
});
