// Declared argument types (schemas/metadata.ts ArgumentType) for people: tables of inputs and
// outputs, a starting value for the try-it editor, and where file uploads go.
import { h } from './dom.js';

const dimension = (size, index) => (size === null ? (index === 0 ? 'batch' : 'any') : String(size));

export function shapeText(shape) {
  return `[${shape.map(dimension).join(', ')}]`;
}

/** One line: "float32 array [batch, 784]", "list of string", "object (input, state, sr)". */
export function describeArgument(argument) {
  if (!argument || typeof argument !== 'object') return 'any';
  switch (argument.type) {
    case 'ndarray':
      return argument.shape.length === 0 ? `${argument.dtype} scalar` : `${argument.dtype} array ${shapeText(argument.shape)}`;
    case 'list':
      return `list of ${describeArgument(argument.item_type)}`;
    case 'dict':
      return `object (${Object.keys(argument.properties ?? {}).join(', ')})`;
    case 'tuple':
      return `tuple (${(argument.element_types ?? []).map(describeArgument).join(', ')})`;
    case 'file':
      return 'file';
    default:
      return argument.type ?? 'any';
  }
}

/** The named parts of an argument: a dict's properties, a tuple's elements, or the one value. */
export function argumentParts(argument, names) {
  if (argument?.type === 'dict') return Object.entries(argument.properties ?? {}).map(([name, part]) => ({ name, argument: part }));
  if (argument?.type === 'tuple') return (argument.element_types ?? []).map((part, i) => ({ name: names?.[i] ?? `element ${i}`, argument: part }));
  return [{ name: names?.[0] ?? '(the whole value)', argument }];
}

export function argumentTable(caption, argument, names) {
  const parts = argumentParts(argument, names);
  return h('table', { class: 'io-table' },
    h('caption', null, caption, argument?.description ? h('span', { class: 'caption-note' }, ` — ${argument.description}`) : null),
    h('thead', null, h('tr', null, ['Name', 'Kind', 'Element type', 'Shape', 'Description'].map((label) => h('th', { scope: 'col' }, label)))),
    h('tbody', null, parts.map(({ name, argument: part }) =>
      h('tr', null,
        h('th', { scope: 'row' }, h('code', null, name)),
        h('td', null, part?.type === 'ndarray' ? (part.shape.length ? 'array' : 'scalar') : describeArgument(part)),
        h('td', null, part?.type === 'ndarray' ? h('code', null, part.dtype) : '—'),
        h('td', null, part?.type === 'ndarray' ? h('code', null, shapeText(part.shape)) : '—'),
        h('td', null, part?.description ?? '')))));
}

const MAX_SKELETON_ELEMENTS = 65_536;

/** A value of the declared type to start from when the publisher gave no example. */
export function skeleton(argument) {
  switch (argument?.type) {
    case 'ndarray': {
      const shape = argument.shape.map((size) => (size === null ? 1 : size));
      const count = shape.reduce((a, b) => a * b, 1);
      if (count > MAX_SKELETON_ELEMENTS) return [];
      const zero = argument.dtype === 'bool' ? false : argument.dtype === 'string' ? '' : 0;
      const build = (depth) => (depth === shape.length ? zero : Array.from({ length: shape[depth] }, () => build(depth + 1)));
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
      return [skeleton(argument.item_type)];
    case 'tuple':
      return (argument.element_types ?? []).map(skeleton);
    case 'dict':
      return Object.fromEntries(Object.entries(argument.properties ?? {}).filter(([, part]) => part?.type !== 'file').map(([key, part]) => [key, skeleton(part)]));
    default:
      return null;
  }
}

/** Where file uploads go: [] for a file input, ['key'] for a file property of an object input. */
export function fileSlots(argument) {
  if (argument?.type === 'file') return [{ key: null, argument }];
  if (argument?.type === 'dict') {
    return Object.entries(argument.properties ?? {}).filter(([, part]) => part?.type === 'file').map(([key, part]) => ({ key, argument: part }));
  }
  return [];
}

/** The shape of a nested JSON array ([] for a scalar). */
export function valueShape(value) {
  const shape = [];
  let current = value;
  while (Array.isArray(current)) {
    shape.push(current.length);
    current = current[0];
  }
  return shape;
}

const V2_DATATYPES = {
  bool: 'BOOL', uint8: 'UINT8', uint16: 'UINT16', uint32: 'UINT32', uint64: 'UINT64', int8: 'INT8', int16: 'INT16',
  int32: 'INT32', int64: 'INT64', float16: 'FP16', float32: 'FP32', float64: 'FP64', string: 'BYTES',
};

/**
 * The Open Inference Protocol request for these inputs, or undefined where the servable does not
 * take tensors (a Python function taking JSON is run through the hub API instead).
 */
export function v2Request(argument, names, inputs) {
  const tensor = (name, declared, value) => ({
    name,
    shape: valueShape(value),
    datatype: V2_DATATYPES[declared.dtype],
    data: Array.isArray(value) ? value.flat(Infinity) : [value],
  });
  if (argument?.type === 'ndarray') return { inputs: [tensor(names?.[0] ?? 'input', argument, inputs)] };
  if (argument?.type === 'dict' && inputs && typeof inputs === 'object') {
    const parts = Object.entries(argument.properties ?? {});
    if (parts.length === 0 || parts.some(([, part]) => part?.type !== 'ndarray')) return undefined;
    return { inputs: parts.map(([name, part]) => tensor(name, part, inputs[name])) };
  }
  return undefined;
}
