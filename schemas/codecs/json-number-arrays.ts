/**
 * A fast path for request bodies that carry tensors as JSON: arrays of numbers are read straight
 * from the text into one Float64Array, their shape, rectangularity and finiteness checked in the
 * same pass, instead of `JSON.parse` into boxed numbers followed by a scan, a flatten and a copy.
 *
 * It only ever accepts: anything it does not take exactly as `JSON.parse` would (other syntax,
 * escapes it does not decode, `__proto__` keys, ragged or empty arrays, non-finite numbers such as
 * 1e400, nesting beyond the limits) makes it answer `undefined`, and the caller parses the text
 * with the general parser, which accepts or refuses it with the error it always gave. So the hub's
 * answers, errors included, do not depend on which path a body took; test/unit/json-number-arrays.test.ts
 * compares the two on generated bodies.
 */

import type { Dtype } from '../metadata.ts';
import type { Tensor } from '../ports/servable.ts';

/** Tensor ranks the fast path reads; deeper arrays go the general way (and meet its limits). */
const MAX_FAST_RANK = 64;
/** Nesting of the surrounding document the fast path reads (the app refuses deeper than 256). */
const MAX_FAST_DEPTH = 64;
/** Integers up to 2^53 are exact doubles: a mantissa within it times or over an exact power of ten is correctly rounded. */
const EXACT_MANTISSA = 9007199254740992;
const EXACT_POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/**
 * A rectangular array of finite numbers read by the fast path: its shape and its values in row-major
 * order, exactly the doubles `JSON.parse` gives. The fields are private so that code walking a
 * parsed body generically (the depth check) sees no children; `toJSON` and `toNested` give the
 * nested arrays the general parser would have made, for code that wants those.
 */
export class NumberArray {
  readonly #shape: readonly number[];
  readonly #values: Float64Array;

  constructor(shape: readonly number[], values: Float64Array) {
    this.#shape = shape;
    this.#values = values;
  }

  get shape(): readonly number[] {
    return this.#shape;
  }

  get values(): Float64Array {
    return this.#values;
  }

  /** The nested arrays `JSON.parse` would have made of the same text. */
  toNested(): unknown[] {
    const shape = this.#shape;
    const values = this.#values;
    let offset = 0;
    const build = (depth: number): unknown[] => {
      const size = shape[depth]!;
      const out = new Array<unknown>(size);
      if (depth === shape.length - 1) for (let i = 0; i < size; i++) out[i] = values[offset++];
      else for (let i = 0; i < size; i++) out[i] = build(depth + 1);
      return out;
    };
    return build(0);
  }

  toJSON(): unknown[] {
    return this.toNested();
  }
}

/** Where in the document a number array is wanted as a NumberArray: the key it is the value of and the object's depth (1 = the top level). */
export type NumberArrayPlaces = (key: string, depth: number) => boolean;

const enum Char {
  Tab = 9,
  LineFeed = 10,
  Return = 13,
  Space = 32,
  Quote = 34,
  Plus = 43,
  Comma = 44,
  Minus = 45,
  Dot = 46,
  Zero = 48,
  Nine = 57,
  Colon = 58,
  UpperE = 69,
  OpenBracket = 91,
  Backslash = 92,
  CloseBracket = 93,
  LowerE = 101,
  OpenBrace = 123,
  CloseBrace = 125,
}

/** Thrown inside the parser to give up; caught at its entry, never escapes. */
const GIVE_UP = Symbol('give up');

class Reader {
  /** Where reading continues: each method reads from here and leaves it after what it read. */
  pos = 0;
  constructor(
    readonly text: string,
    readonly places: NumberArrayPlaces,
  ) {}

  skipSpace(): number {
    const text = this.text;
    let pos = this.pos;
    let c = text.charCodeAt(pos);
    while (c === Char.Space || c === Char.LineFeed || c === Char.Return || c === Char.Tab) c = text.charCodeAt(++pos);
    this.pos = pos;
    return c;
  }

  /**
   * One JSON number at `pos` (JSON's grammar exactly: no leading +, no leading zeros, digits on both
   * sides of a dot), as `JSON.parse` reads it; gives up on anything else or a non-finite value.
   */
  number(): number {
    const text = this.text;
    const start = this.pos;
    let pos = start;
    let c = text.charCodeAt(pos);
    const negative = c === Char.Minus;
    if (negative) c = text.charCodeAt(++pos);
    let mantissa = 0;
    let exact = true;
    if (c === Char.Zero) {
      c = text.charCodeAt(++pos);
    } else if (c > Char.Zero && c <= Char.Nine) {
      do {
        mantissa = mantissa * 10 + (c - Char.Zero);
        c = text.charCodeAt(++pos);
      } while (c >= Char.Zero && c <= Char.Nine);
      if (mantissa > EXACT_MANTISSA) exact = false;
    } else {
      throw GIVE_UP;
    }
    let scale = 0;
    if (c === Char.Dot) {
      c = text.charCodeAt(++pos);
      if (!(c >= Char.Zero && c <= Char.Nine)) throw GIVE_UP;
      do {
        if (exact) {
          mantissa = mantissa * 10 + (c - Char.Zero);
          scale--;
          if (mantissa > EXACT_MANTISSA) exact = false;
        }
        c = text.charCodeAt(++pos);
      } while (c >= Char.Zero && c <= Char.Nine);
    }
    if (c === Char.LowerE || c === Char.UpperE) {
      c = text.charCodeAt(++pos);
      let exponentNegative = false;
      if (c === Char.Plus || c === Char.Minus) {
        exponentNegative = c === Char.Minus;
        c = text.charCodeAt(++pos);
      }
      if (!(c >= Char.Zero && c <= Char.Nine)) throw GIVE_UP;
      let exponent = 0;
      do {
        if (exponent < 100_000) exponent = exponent * 10 + (c - Char.Zero);
        c = text.charCodeAt(++pos);
      } while (c >= Char.Zero && c <= Char.Nine);
      scale += exponentNegative ? -exponent : exponent;
    }
    this.pos = pos;
    let value: number;
    if (exact && scale >= -22 && scale <= 22) {
      // Clinger's fast path: both operands are exact doubles, so one IEEE operation rounds correctly.
      value = scale < 0 ? mantissa / EXACT_POWERS_OF_TEN[-scale]! : mantissa * EXACT_POWERS_OF_TEN[scale]!;
      if (negative) value = -value;
    } else {
      // More digits than a double holds exactly, or a large exponent: the engine's own conversion
      // (the one JSON.parse uses) of a token whose grammar was checked above.
      value = Number(text.slice(start, pos));
    }
    if (value - value !== 0) throw GIVE_UP; // 1e400 is Infinity: the general path says why it is refused
    return value;
  }

  /** A rectangular array of numbers starting at the `[` at `pos`, of any rank up to MAX_FAST_RANK. */
  numberArray(): NumberArray {
    const shape: number[] = [];
    const counts: number[] = [];
    let values = new Float64Array(1024);
    let length = 0;
    let depth = -1;
    let leaf = -1;
    for (;;) {
      // At a `[`: open an array one level deeper.
      depth++;
      if (depth >= MAX_FAST_RANK) throw GIVE_UP;
      counts[depth] = 0;
      // -1 until the first array at this depth closes and fixes its length for all the others.
      if (depth === shape.length) shape.push(-1);
      const open = this.pos;
      this.pos++;
      let c = this.skipSpace();
      if (c === Char.OpenBracket) {
        if (leaf !== -1 && depth >= leaf) throw GIVE_UP;
        continue;
      }
      if (leaf === -1) leaf = depth;
      else if (depth !== leaf) throw GIVE_UP;
      // The innermost level, a row of numbers, is read by the engine's own JSON.parse from its `[`
      // to the next `]`: its number conversion is native (full-precision doubles, 17 digits, came
      // 1.6x faster that way than number by number here), and the row's array is unboxed doubles.
      // Anything else between the brackets (a string, an object, a nested or empty array, a
      // non-finite number) fails to parse or fails the check below, and the general path reads it.
      const close = this.text.indexOf(']', this.pos);
      if (close < 0) throw GIVE_UP;
      let row: unknown;
      try {
        row = JSON.parse(this.text.slice(open, close + 1));
      } catch {
        throw GIVE_UP;
      }
      if (!Array.isArray(row) || row.length === 0) throw GIVE_UP;
      if (length + row.length > values.length) {
        const grown = new Float64Array(Math.max(values.length * 2, length + row.length));
        grown.set(values.subarray(0, length));
        values = grown;
      }
      for (let i = 0; i < row.length; i++) {
        const value: unknown = row[i];
        // 1e400 is Infinity: the general path says why it is refused.
        if (typeof value !== 'number' || value - value !== 0) throw GIVE_UP;
        values[length++] = value;
      }
      counts[depth] = row.length;
      this.pos = close;
      // Close this array and every one that ends with it; after a comma, open the next sibling.
      for (;;) {
        this.pos++; // the `]`
        const size = counts[depth]!;
        if (shape[depth] === -1) shape[depth] = size;
        else if (shape[depth] !== size) throw GIVE_UP;
        depth--;
        if (depth < 0) return new NumberArray(shape, values.subarray(0, length));
        counts[depth]!++;
        c = this.skipSpace();
        if (c === Char.CloseBracket) continue;
        if (c !== Char.Comma) throw GIVE_UP;
        this.pos++;
        if (this.skipSpace() !== Char.OpenBracket) throw GIVE_UP;
        break;
      }
    }
  }

  /** A string at the `"` at `pos`; escapes are decoded by JSON.parse on the token alone. */
  string(): string {
    const text = this.text;
    const start = this.pos + 1;
    let pos = start;
    let escaped = false;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === Char.Quote) break;
      if (c === Char.Backslash) {
        escaped = true;
        pos += 2;
        continue;
      }
      // Control characters are not allowed unescaped in JSON strings; NaN is the end of the text.
      if (c < 0x20 || c !== c) throw GIVE_UP;
      pos++;
    }
    this.pos = pos + 1;
    if (!escaped) return text.slice(start, pos);
    try {
      return JSON.parse(text.slice(start - 1, pos + 1)) as string;
    } catch {
      throw GIVE_UP;
    }
  }

  literal(word: string, value: unknown): unknown {
    if (!this.text.startsWith(word, this.pos)) throw GIVE_UP;
    this.pos += word.length;
    return value;
  }

  /** Any JSON value at `pos` (after white space); `depth` is the nesting of the value's container. */
  value(depth: number, key: string | undefined): unknown {
    const c = this.skipSpace();
    if (c === Char.OpenBrace) return this.object(depth + 1);
    if (c === Char.OpenBracket) {
      if (key !== undefined && this.places(key, depth)) {
        // Strings, a ragged or an empty array there are still JSON: read them the ordinary way,
        // and the code that takes the body judges them as it judges JSON.parse's arrays.
        const start = this.pos;
        try {
          return this.numberArray();
        } catch (error) {
          if (error !== GIVE_UP) throw error;
          this.pos = start;
        }
      }
      return this.array(depth + 1);
    }
    if (c === Char.Quote) return this.string();
    if (c === Char.Minus || (c >= Char.Zero && c <= Char.Nine)) return this.number();
    if (c === 116) return this.literal('true', true);
    if (c === 102) return this.literal('false', false);
    if (c === 110) return this.literal('null', null);
    throw GIVE_UP;
  }

  array(depth: number): unknown[] {
    if (depth > MAX_FAST_DEPTH) throw GIVE_UP;
    this.pos++;
    const out: unknown[] = [];
    if (this.skipSpace() === Char.CloseBracket) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth, undefined));
      const c = this.skipSpace();
      this.pos++;
      if (c === Char.Comma) continue;
      if (c === Char.CloseBracket) return out;
      throw GIVE_UP;
    }
  }

  object(depth: number): Record<string, unknown> {
    if (depth > MAX_FAST_DEPTH) throw GIVE_UP;
    this.pos++;
    const out: Record<string, unknown> = {};
    let c = this.skipSpace();
    if (c === Char.CloseBrace) {
      this.pos++;
      return out;
    }
    for (;;) {
      if (c !== Char.Quote) throw GIVE_UP;
      const key = this.string();
      // fastify's JSON parser refuses `__proto__` keys with its own error: leave those to it.
      if (key === '__proto__') throw GIVE_UP;
      if (this.skipSpace() !== Char.Colon) throw GIVE_UP;
      this.pos++;
      out[key] = this.value(depth, key);
      c = this.skipSpace();
      this.pos++;
      if (c === Char.CloseBrace) return out;
      if (c !== Char.Comma) throw GIVE_UP;
      c = this.skipSpace();
    }
  }
}

/**
 * Parses JSON `text` as `JSON.parse` does, except that arrays of numbers in the places `places`
 * names come back as NumberArrays; `undefined` when the fast path does not take the text (the
 * caller then uses the general parser, which also makes every error).
 */
export function parseWithNumberArrays(text: string, places: NumberArrayPlaces): unknown {
  const reader = new Reader(text, places);
  try {
    const value = reader.value(0, undefined);
    reader.skipSpace();
    return reader.pos === text.length ? value : undefined;
  } catch (error) {
    if (error === GIVE_UP) return undefined;
    // A RangeError from a pathological text (the stack): the general path decides.
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

/** The run route's body: `inputs` at the top level, when it is an array of numbers. */
export const RUN_BODY_NUMBER_ARRAYS: NumberArrayPlaces = (key, depth) => depth === 1 && key === 'inputs';

/** A v2 inference request's body: each input's `data` ({"inputs": [{"data": [...]}]}). */
export const V2_BODY_NUMBER_ARRAYS: NumberArrayPlaces = (key, depth) => depth === 3 && key === 'data';

/**
 * The tensor the general path (`jsonToTensor` on the nested arrays) would make of `values` read as
 * `shape`, for float32 and float64 (the dtypes JSON bodies carry nearly always): one conversion,
 * no per-element checks beyond finiteness once stored. `undefined` for anything else, or where the
 * general path would refuse (another element count, a shape the declaration does not allow, a
 * number beyond float32 such as 1e39): the caller then takes the general path on `toNested()`, which
 * says what is wrong, as it always did.
 */
export function numberArrayToTensor(array: NumberArray, dtype: Dtype, shape: readonly number[], declared: readonly (number | null)[]): Tensor | undefined {
  if (dtype !== 'float32' && dtype !== 'float64') return undefined;
  if (shape.length === 0 || declared.length !== shape.length) return undefined;
  let count = 1;
  for (let i = 0; i < shape.length; i++) {
    const size = shape[i]!;
    if (!(size > 0) || (declared[i] !== null && declared[i] !== size)) return undefined;
    count *= size;
  }
  const values = array.values;
  if (values.length !== count) return undefined;
  if (dtype === 'float64') return { dtype, shape: [...shape], data: values.slice() };
  const data = new Float32Array(values);
  for (let i = 0; i < data.length; i++) if (data[i]! - data[i]! !== 0) return undefined;
  return { dtype, shape: [...shape], data };
}
