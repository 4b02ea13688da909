/**
 * Conversions between the JSON a caller sends (nested arrays, objects of named tensors) and the
 * `Tensor`s runtimes take, with the declared-type check that turns a wrong shape or dtype into a
 * 422 naming the input before any model runs. This is the hot path of every run: it flattens in one
 * pass and allocates one typed array per tensor.
 */
import { HubError } from '../errors.ts';
import type { ArgumentType, Dtype, Method, NdarrayArgument } from '../metadata.ts';
import type { ServableValue, Tensor, TypedArray } from '../ports/servable.ts';
import { NumberArray, numberArrayToTensor } from './json-number-arrays.ts';

type TypedArrayConstructor = {
  new (length: number): TypedArray;
  BYTES_PER_ELEMENT: number;
};

const TYPED_ARRAYS: Record<Exclude<Dtype, 'string'>, TypedArrayConstructor> = {
  bool: Uint8Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array as unknown as TypedArrayConstructor,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array as unknown as TypedArrayConstructor,
  // float16 travels as float32 in JavaScript; runtimes that need half floats convert at their edge.
  float16: Float32Array,
  float32: Float32Array,
  float64: Float64Array,
};

/**
 * Numbers in inputs must be finite and fit their dtype. JSON has no NaN or Infinity, but `1e400`
 * parses to Infinity, and 1e39 is a finite double that becomes Infinity in a float32 (65520 in a
 * float16): a model given those computes garbage that JSON cannot even carry back (it would read
 * as null). So they are refused as MODELHUB_INVALID_INPUTS naming the input, for every servable
 * type (docs/inputs.md).
 */
const FLOAT16_OVERFLOW = 65520;

const INTEGER_RANGES: Partial<Record<Dtype, [number, number]>> = {
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

export const V2_DATATYPES: Record<Dtype, string> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

const DTYPES_BY_V2 = Object.fromEntries(
  Object.entries(V2_DATATYPES).map(([dtype, v2]) => [v2, dtype as Dtype]),
) as Record<string, Dtype>;

export function dtypeFromV2(datatype: string): Dtype | undefined {
  // Own properties only: a request's "constructor" or "toString" is no datatype.
  return Object.hasOwn(DTYPES_BY_V2, datatype) ? DTYPES_BY_V2[datatype] : undefined;
}

export function bytesPerElement(dtype: Dtype): number {
  if (dtype === 'string') return 0;
  if (dtype === 'float16') return 2;
  return TYPED_ARRAYS[dtype].BYTES_PER_ELEMENT;
}

export function allocate(dtype: Dtype, length: number): TypedArray | string[] {
  if (dtype === 'string') return new Array<string>(length).fill('');
  return new TYPED_ARRAYS[dtype](length);
}

function invalid(path: string, expected: string, given: string): HubError {
  return new HubError('INVALID_INPUTS', `input "${path}" expected ${expected}, given ${given}`, {
    details: { input: path, expected, given },
  });
}

const describeValue = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? `an array of length ${value.length}` : typeof value;

const formatShape = (shape: readonly (number | null)[]): string =>
  `[${shape.map((d) => (d === null ? '?' : d)).join(', ')}]`;

/** The shape of a nested array, read along its first elements (raggedness is caught when filling). */
function inferShape(value: unknown): number[] {
  const shape: number[] = [];
  let cursor = value;
  while (Array.isArray(cursor)) {
    shape.push(cursor.length);
    if (cursor.length === 0) break;
    cursor = cursor[0];
  }
  return shape;
}

function checkShape(path: string, declared: readonly (number | null)[], given: number[]): void {
  const ok =
    declared.length === given.length && declared.every((dim, i) => dim === null || dim === given[i]);
  if (!ok) throw invalid(path, `shape ${formatShape(declared)}`, `shape ${formatShape(given)}`);
}

/** Store one JSON element into the typed array, checking its type against the dtype. */
function storeElement(
  path: string,
  dtype: Dtype,
  target: TypedArray | string[],
  index: number,
  element: unknown,
): void {
  if (dtype === 'string') {
    if (typeof element !== 'string') throw invalid(path, 'string elements', describeValue(element));
    (target as string[])[index] = element;
    return;
  }
  if (dtype === 'bool') {
    if (typeof element === 'boolean') (target as Uint8Array)[index] = element ? 1 : 0;
    else if (element === 0 || element === 1) (target as Uint8Array)[index] = element;
    else throw invalid(path, 'boolean elements', describeValue(element));
    return;
  }
  if (typeof element !== 'number') {
    throw invalid(path, `${dtype} elements (numbers)`, describeValue(element));
  }
  if (!Number.isFinite(element)) throw invalid(path, `finite ${dtype} elements`, `${element}`);
  if ((dtype === 'float32' && !Number.isFinite(Math.fround(element))) || (dtype === 'float16' && Math.abs(element) >= FLOAT16_OVERFLOW)) {
    throw invalid(path, `${dtype} elements (at most ${dtype === 'float16' ? '65504' : '3.4028235e38'} in size)`, `${element}`);
  }
  const range = INTEGER_RANGES[dtype];
  if (range) {
    if (!Number.isInteger(element) || element < range[0] || element > range[1]) {
      throw invalid(path, `${dtype} elements`, `${element}`);
    }
    if (dtype === 'int64' || dtype === 'uint64') {
      (target as BigInt64Array)[index] = BigInt(element);
      return;
    }
  }
  (target as Float32Array)[index] = element;
}

/**
 * How deep a request's JSON may nest. Far beyond any real input (a tensor of rank 64 is 64 levels;
 * metadata and parameters a handful), and far below where the code that walks inputs (cache keys,
 * argument checks, serialisation) would overflow the stack.
 */
export const MAX_JSON_DEPTH = 256;
/** The largest tensor rank the hub takes (NumPy 2 allows 64 dimensions; ONNX models use far fewer). */
export const MAX_TENSOR_RANK = 64;
/** Rows a tensor with no elements may claim ([n, 0]): nothing to send, so nothing else bounds them. */
const MAX_EMPTY_TENSOR_ROWS = 1 << 20;

/** Throws BAD_REQUEST for JSON nested deeper than `limit`; walks without recursing. */
export function checkJsonDepth(value: unknown, limit = MAX_JSON_DEPTH): void {
  if (typeof value !== 'object' || value === null) return;
  const nodes: object[] = [value];
  const depths: number[] = [1];
  while (nodes.length > 0) {
    const node = nodes.pop()!;
    const depth = depths.pop()!;
    if (depth > limit) throw new HubError('BAD_REQUEST', `the JSON is nested deeper than ${limit} levels`);
    const children: unknown[] = Array.isArray(node) ? node : Object.values(node);
    for (let i = 0; i < children.length; i++) {
      const child = children[i];
      if (typeof child === 'object' && child !== null) {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
}

/**
 * A shape given beside its data (the v2 protocol) that code may safely build arrays from: a rank the
 * hub takes, and no empty tensor that claims billions of rows (nothing in the body bounds those).
 */
export function checkGivenShape(name: string, shape: readonly number[]): void {
  if (shape.length > MAX_TENSOR_RANK) {
    throw new HubError('BAD_REQUEST', `input ${name}: rank ${shape.length} is more than the ${MAX_TENSOR_RANK} dimensions the hub takes`);
  }
  if (shape.includes(0) && shape.reduce((rows, d) => rows * Math.max(d, 1), 1) > MAX_EMPTY_TENSOR_ROWS) {
    throw new HubError('BAD_REQUEST', `input ${name}: shape [${shape.join(', ')}] holds no elements but claims more than ${MAX_EMPTY_TENSOR_ROWS} rows`);
  }
}

/** A nested JSON array (or a scalar for a rank-0 tensor) → a Tensor of the declared dtype and shape. */
export function jsonToTensor(path: string, value: unknown, declared: NdarrayArgument): Tensor {
  if (value instanceof NumberArray) {
    // Read by the fast JSON path: converted in one step, or judged below as the nested arrays it is.
    return numberArrayToTensor(value, declared.dtype, value.shape, declared.shape) ?? jsonToTensor(path, value.toNested(), declared);
  }
  const shape = inferShape(value);
  // A scalar given for a declared [1] (e.g. a sample rate) is a common and harmless convenience.
  if (shape.length === 0 && declared.shape.length === 1 && (declared.shape[0] === 1 || declared.shape[0] === null)) {
    return jsonToTensor(path, [value], declared);
  }
  checkShape(path, declared.shape, shape);
  const length = shape.reduce((a, b) => a * b, 1);
  const data = allocate(declared.dtype, length);
  if (shape.length === 0) {
    storeElement(path, declared.dtype, data, 0, value);
    return { dtype: declared.dtype, shape, data };
  }
  let offset = 0;
  const floating = declared.dtype === 'float32' || declared.dtype === 'float64';
  const fill = (node: unknown, depth: number): void => {
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw invalid(path, `a rectangular array of shape ${formatShape(shape)}`, 'a ragged array');
    }
    if (depth === shape.length - 1) {
      let start = 0;
      if (floating) {
        // The hot path of every float request: plain numbers go straight in; anything else (not a
        // number, or one that is not finite once stored: 1e400, or 1e39 in a float32) takes the
        // checked path below, which says what is wrong with it.
        const target = data as Float32Array | Float64Array;
        for (; start < node.length; start++) {
          const element: unknown = node[start];
          if (typeof element !== 'number') break;
          target[offset] = element;
          const stored = target[offset]!;
          if (stored - stored !== 0) break;
          offset++;
        }
      }
      for (let i = start; i < node.length; i++) {
        const element = node[i];
        if (Array.isArray(element)) {
          throw invalid(path, `shape ${formatShape(declared.shape)}`, 'a deeper array');
        }
        storeElement(path, declared.dtype, data, offset++, element);
      }
      return;
    }
    for (let i = 0; i < node.length; i++) fill(node[i], depth + 1);
  };
  fill(value, 0);
  return { dtype: declared.dtype, shape, data };
}

/** A Tensor → nested JSON arrays (int64 as numbers: JSON has no 64-bit integers). */
export function tensorToJson(tensor: Tensor): unknown {
  const { shape, data } = tensor;
  const element = (i: number): unknown => {
    const v = data[i];
    if (typeof v === 'bigint') return Number(v);
    if (tensor.dtype === 'bool') return v === 1;
    return v;
  };
  if (shape.length === 0) return element(0);
  let offset = 0;
  const build = (depth: number): unknown[] => {
    const size = shape[depth]!;
    const out = new Array<unknown>(size);
    if (depth === shape.length - 1) {
      for (let i = 0; i < size; i++) out[i] = element(offset++);
    } else {
      for (let i = 0; i < size; i++) out[i] = build(depth + 1);
    }
    return out;
  };
  return build(0);
}

/** Check a JSON value against a declared argument type (for JSON servables: Python, containers). */
export function checkJsonArgument(path: string, value: unknown, declared: ArgumentType): void {
  switch (declared.type) {
    case 'any':
    case 'file':
      return;
    case 'number':
      if (typeof value !== 'number') throw invalid(path, 'a number', describeValue(value));
      return;
    case 'integer':
      if (!Number.isInteger(value)) throw invalid(path, 'an integer', describeValue(value));
      return;
    case 'string':
      if (typeof value !== 'string') throw invalid(path, 'a string', describeValue(value));
      return;
    case 'boolean':
      if (typeof value !== 'boolean') throw invalid(path, 'a boolean', describeValue(value));
      return;
    case 'ndarray':
      jsonToTensor(path, value, declared);
      return;
    case 'list':
      if (!Array.isArray(value)) throw invalid(path, 'a list', describeValue(value));
      value.forEach((item, i) => checkJsonArgument(`${path}[${i}]`, item, declared.item_type));
      return;
    case 'tuple':
      if (!Array.isArray(value) || value.length !== declared.element_types.length) {
        throw invalid(path, `a list of ${declared.element_types.length} elements`, describeValue(value));
      }
      value.forEach((item, i) => checkJsonArgument(`${path}[${i}]`, item, declared.element_types[i]!));
      return;
    case 'dict': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw invalid(path, 'an object', describeValue(value));
      }
      const record = value as Record<string, unknown>;
      for (const [key, type] of Object.entries(declared.properties)) {
        // Own properties only: `in` would find "constructor" or "toString" on Object.prototype.
        if (!Object.hasOwn(record, key)) throw invalid(`${path}.${key}`, describeType(type), 'nothing');
        checkJsonArgument(`${path}.${key}`, record[key], type);
      }
      return;
    }
  }
}

export function describeType(type: ArgumentType): string {
  switch (type.type) {
    case 'ndarray':
      return `${type.dtype} ${formatShape(type.shape)}`;
    case 'list':
      return `list of ${describeType(type.item_type)}`;
    case 'dict':
      return 'object';
    case 'tuple':
      return `tuple of ${type.element_types.length}`;
    default:
      return type.type;
  }
}

function namesOf(method: Method, key: 'input_names' | 'output_names'): string[] | undefined {
  const names = method.method_details?.[key];
  return Array.isArray(names) ? (names as string[]) : undefined;
}

/**
 * JSON inputs → what the servable takes. For a tensor servable: one ndarray input is the model's
 * single input; a dict of ndarrays maps names to tensors. For a JSON servable: checked, passed on.
 */
export function decodeInputs(method: Method, io: 'tensors' | 'json', inputs: unknown): ServableValue {
  const declared = method.input;
  // Only a tensor servable's single ndarray takes a fast-parsed array as it is; everything else
  // sees (and checks) the nested arrays JSON.parse would have made.
  if (inputs instanceof NumberArray && !(io === 'tensors' && declared.type === 'ndarray')) inputs = inputs.toNested();
  if (io === 'json') {
    checkJsonArgument('inputs', inputs, declared);
    checkFiniteNumbers(inputs);
    return { kind: 'json', value: inputs };
  }
  if (declared.type === 'ndarray') {
    const name = namesOf(method, 'input_names')?.[0] ?? 'input';
    return { kind: 'tensors', tensors: { [name]: jsonToTensor(name, inputs, declared) } };
  }
  if (declared.type === 'dict') {
    if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
      throw invalid('inputs', `an object with ${Object.keys(declared.properties).join(', ')}`, describeValue(inputs));
    }
    const record = inputs as Record<string, unknown>;
    const unknownNames = Object.keys(record).filter((key) => !Object.hasOwn(declared.properties, key));
    if (unknownNames.length > 0) {
      throw new HubError('INVALID_INPUTS', `unknown input "${unknownNames[0]}"; the servable takes ${Object.keys(declared.properties).join(', ')}`, {
        details: { input: unknownNames[0], expected: Object.keys(declared.properties) },
      });
    }
    const tensors: Record<string, Tensor> = {};
    for (const [name, type] of Object.entries(declared.properties)) {
      if (!Object.hasOwn(record, name)) throw invalid(name, describeType(type), 'nothing');
      if (type.type !== 'ndarray') throw new HubError('INTERNAL', `tensor servable input ${name} is not an ndarray`);
      tensors[name] = jsonToTensor(name, record[name], type);
    }
    return { kind: 'tensors', tensors };
  }
  throw new HubError('INTERNAL', `a tensor servable cannot take ${declared.type} inputs`);
}

/**
 * JSON servables (Python, containers) take inputs as JSON, where Infinity (from `1e400`) would be
 * sent on as null: refused here, naming where it is (`inputs.x[3]`). The scan walks without
 * recursing and builds no paths; only a body that has such a number is walked again for its path.
 */
function checkFiniteNumbers(inputs: unknown): void {
  const pending: unknown[] = [inputs];
  let found = false;
  while (pending.length > 0 && !found) {
    const value = pending.pop();
    if (typeof value === 'number') found = !Number.isFinite(value);
    else if (Array.isArray(value)) for (const item of value) pending.push(item);
    else if (typeof value === 'object' && value !== null) for (const item of Object.values(value)) pending.push(item);
  }
  if (!found) return;
  const where = pathToNonFinite(inputs, 'inputs')!;
  throw new HubError('INVALID_INPUTS', `input "${where.path}" expected finite numbers, given ${where.value}`, {
    details: { input: where.path, expected: 'finite numbers', given: String(where.value) },
  });
}

/** Where the first non-finite number is; recursion is bounded by the request depth limit (MAX_JSON_DEPTH). */
function pathToNonFinite(value: unknown, path: string): { path: string; value: number } | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { path, value };
  if (typeof value !== 'object' || value === null) return undefined;
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((item, i) => [`${path}[${i}]`, item]) : Object.entries(value).map(([key, item]) => [`${path}.${key}`, item]);
  for (const [childPath, child] of entries) {
    const found = pathToNonFinite(child, childPath);
    if (found) return found;
  }
  return undefined;
}

/** What the servable gave → the JSON `output` of the hub API: one tensor as a nested array, several as an object. */
export function encodeOutput(method: Method, value: ServableValue): unknown {
  if (value.kind === 'json') return value.value;
  const names = namesOf(method, 'output_names') ?? Object.keys(value.tensors);
  if (method.output.type === 'ndarray' || names.length === 1) {
    const tensor = value.tensors[names[0]!] ?? Object.values(value.tensors)[0];
    return tensor ? tensorToJson(tensor) : null;
  }
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const tensor = value.tensors[name];
    if (tensor) out[name] = tensorToJson(tensor);
  }
  return out;
}

/**
 * Whether a made-up example input is only a guess the model may rightly refuse: a dynamic dimension
 * beyond the batch (a window length, a sequence) or a scalar (a sample rate) has no neutral value.
 */
export function exampleIsGuess(method: Method): boolean {
  const guess = (type: ArgumentType): boolean => {
    switch (type.type) {
      case 'ndarray':
        return type.shape.length === 0 || type.shape.slice(1).some((d) => d === null);
      case 'list':
        return guess(type.item_type);
      case 'tuple':
        return type.element_types.some(guess);
      case 'dict':
        return Object.values(type.properties).some(guess);
      default:
        return true;
    }
  };
  return guess(method.input);
}

/** An input of the declared shape for the warm-up run at publish time: zeros, dynamic dims of 1. */
export function exampleInputs(method: Method): unknown {
  const fromType = (type: ArgumentType): unknown => {
    switch (type.type) {
      case 'ndarray': {
        const shape = type.shape.map((d) => (d === null ? 1 : d));
        const zero = type.dtype === 'string' ? '' : type.dtype === 'bool' ? false : 0;
        const build = (depth: number): unknown =>
          depth === shape.length ? zero : Array.from({ length: shape[depth]! }, () => build(depth + 1));
        return build(0);
      }
      case 'number':
      case 'integer':
        return 0;
      case 'string':
        return '';
      case 'boolean':
        return false;
      case 'list':
        return [fromType(type.item_type)];
      case 'tuple':
        return type.element_types.map(fromType);
      case 'dict':
        return Object.fromEntries(Object.entries(type.properties).map(([k, v]) => [k, fromType(v)]));
      default:
        return null;
    }
  };
  return fromType(method.input);
}
