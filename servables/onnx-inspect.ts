/**
 * Reads what an ONNX file says about itself (inputs, outputs, opset, producer) without loading it in
 * onnxruntime, so publishing can describe and check a model cheaply, and the SDK can fill in a
 * servable's declared types on the publisher's machine.
 */
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { HubError } from '../schemas/errors.ts';
import type { ArgumentType, Dtype, Method } from '../schemas/metadata.ts';

const { onnx } = onnxProto;

export interface OnnxTensorInfo {
  name: string;
  dtype: Dtype;
  /** null marks a dynamic dimension; an empty array is a scalar (or, with `unknownRank`, unknown). */
  shape: (number | null)[];
  dimNames: (string | null)[];
  /** Set when the file gives no shape at all, so even the rank is unknown. */
  unknownRank?: boolean;
}

export interface OnnxFacts {
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
  opset: number;
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain?: string;
  docString?: string;
  nodeCount: number;
  initializerCount: number;
}

const DataType = onnx.TensorProto.DataType;

/** ONNX element types the hub can carry; the others (complex, bfloat16, float8, int4) are refused. */
const ELEM_TYPES: Partial<Record<number, Dtype>> = {
  [DataType.FLOAT]: 'float32',
  [DataType.UINT8]: 'uint8',
  [DataType.INT8]: 'int8',
  [DataType.UINT16]: 'uint16',
  [DataType.INT16]: 'int16',
  [DataType.INT32]: 'int32',
  [DataType.INT64]: 'int64',
  [DataType.STRING]: 'string',
  [DataType.BOOL]: 'bool',
  [DataType.FLOAT16]: 'float16',
  [DataType.DOUBLE]: 'float64',
  [DataType.UINT32]: 'uint32',
  [DataType.UINT64]: 'uint64',
};

const ELEM_TYPE_NAMES: Record<number, string> = {
  ...Object.fromEntries(Object.entries(DataType).map(([name, value]) => [value, name])),
  // Newer than onnx-proto's enum.
  17: 'FLOAT8E4M3FN',
  18: 'FLOAT8E4M3FNUZ',
  19: 'FLOAT8E5M2',
  20: 'FLOAT8E5M2FNUZ',
  21: 'UINT4',
  22: 'INT4',
};

/**
 * IR versions ONNX has defined so far are 1..11; a little headroom for newer files, but a random
 * varint decoded from garbage is almost never this small.
 */
const MAX_IR_VERSION = 20;
const MAX_OPSET = 1000;

const invalid = (detail: string): HubError => new HubError('INVALID_MODEL', detail);

type Long = { toString(): string };

function toInt(value: number | Long | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : Number(value.toString());
}

function tensorInfo(value: Onnx.IValueInfoProto, role: 'input' | 'output'): OnnxTensorInfo {
  const name = value.name ?? '';
  if (!name) throw invalid(`not an ONNX model: a graph ${role} has no name`);
  const type = value.type;
  const tensorType = type?.tensorType;
  if (!tensorType) {
    const kind = type?.sequenceType ? 'a sequence' : type?.mapType ? 'a map' : 'not a tensor';
    throw invalid(`${role} "${name}" is ${kind}; only tensor inputs and outputs are supported`);
  }
  const elemType = tensorType.elemType ?? 0;
  const dtype = ELEM_TYPES[elemType];
  if (!dtype) {
    const typeName = ELEM_TYPE_NAMES[elemType] ?? `element type ${elemType}`;
    throw invalid(`${role} "${name}" has element type ${typeName}, which the hub cannot carry`);
  }
  // protobufjs always materialises a message field's object when it was present on the wire.
  if (!tensorType.shape) return { name, dtype, shape: [], dimNames: [], unknownRank: true };
  const dims = tensorType.shape.dim ?? [];
  const shape: (number | null)[] = [];
  const dimNames: (string | null)[] = [];
  for (const dim of dims) {
    // Decoded messages tell which arm of the `value` oneof was on the wire; neither means unknown.
    const which = (dim as Onnx.TensorShapeProto.Dimension).value;
    const dimValue = which === 'dimValue' ? toInt(dim.dimValue) : -1;
    shape.push(dimValue >= 0 ? dimValue : null);
    dimNames.push(which === 'dimParam' && dim.dimParam ? dim.dimParam : null);
  }
  return { name, dtype, shape, dimNames };
}

/** Decode an ONNX ModelProto and read its interface. Throws HubError('INVALID_MODEL') naming what is wrong. */
export function inspectOnnxBytes(bytes: Uint8Array): OnnxFacts {
  if (bytes.length === 0) throw invalid('not an ONNX model: the file is empty');
  let model: Onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw invalid(`not an ONNX model: the bytes do not decode as an ONNX ModelProto (${reason}); the file may be truncated`);
  }
  // Protobuf decodes many byte strings "successfully": only the fields that every real model has tell.
  const irVersion = toInt(model.irVersion);
  if (irVersion < 1 || irVersion > MAX_IR_VERSION) {
    throw invalid(`not an ONNX model: ir_version is ${irVersion}, expected 1 to ${MAX_IR_VERSION}`);
  }
  const graph = model.graph;
  if (!graph) throw invalid('not an ONNX model: it has no graph');
  const opsets = model.opsetImport ?? [];
  if (opsets.length === 0) throw invalid('not an ONNX model: it imports no operator set (opset_import is empty)');
  let opset = 0;
  for (const entry of opsets) {
    const version = toInt(entry.version);
    if (version < 1 || version > MAX_OPSET) {
      throw invalid(`not an ONNX model: operator set "${entry.domain ?? ''}" has version ${version}`);
    }
    if (!entry.domain || entry.domain === 'ai.onnx') opset = version;
  }

  const initializerNames = new Set<string>([
    ...(graph.initializer ?? []).map((t) => t.name ?? ''),
    ...(graph.sparseInitializer ?? []).map((t) => t.values?.name ?? ''),
  ]);
  // Before IR 4 every initializer was also listed as a graph input; those are weights, not inputs.
  const inputs = (graph.input ?? []).filter((v) => !initializerNames.has(v.name ?? '')).map((v) => tensorInfo(v, 'input'));
  const outputs = (graph.output ?? []).map((v) => tensorInfo(v, 'output'));
  if (inputs.length === 0) throw invalid('the graph has no inputs');
  if (outputs.length === 0) throw invalid('the graph has no outputs');
  const nodeCount = (graph.node ?? []).length;
  const passThrough = outputs.every((o) => inputs.some((i) => i.name === o.name) || initializerNames.has(o.name));
  if (nodeCount === 0 && !passThrough) throw invalid('the graph has no nodes');

  return {
    inputs,
    outputs,
    opset,
    irVersion,
    producerName: model.producerName ?? '',
    producerVersion: model.producerVersion ?? '',
    ...(model.domain ? { domain: model.domain } : {}),
    ...(model.docString ? { docString: model.docString } : {}),
    nodeCount,
    initializerCount: initializerNames.size,
  };
}

/** One tensor as an argument type of the metadata document. */
export function tensorInfoToArgument(info: OnnxTensorInfo): ArgumentType {
  if (info.unknownRank) return { type: 'any', description: `${info.dtype} tensor of unknown rank` };
  return { type: 'ndarray', shape: [...info.shape], dtype: info.dtype };
}

function side(infos: OnnxTensorInfo[]): ArgumentType {
  if (infos.length === 1) return tensorInfoToArgument(infos[0]!);
  return { type: 'dict', properties: Object.fromEntries(infos.map((info) => [info.name, tensorInfoToArgument(info)])) };
}

/** The `run` method the file implies: one tensor is an ndarray, several are a dict of named ndarrays. */
export function onnxFactsToMethod(facts: OnnxFacts): Method {
  return {
    input: side(facts.inputs),
    output: side(facts.outputs),
    method_details: {
      input_names: facts.inputs.map((info) => info.name),
      output_names: facts.outputs.map((info) => info.name),
    },
  };
}
