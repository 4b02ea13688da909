/**
 * Writes small ONNX models from JavaScript with `onnx-proto`: the demo MNIST classifier the hub builds
 * on first start, and the fixtures the tests publish. Only what those need: dense MLPs and an adder.
 */
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';

const { onnx } = onnxProto;

/** The IR version and default-domain opset every model written here declares. */
export const WRITER_IR_VERSION = 8;
export const WRITER_OPSET = 13;

export interface MlpWeights {
  /** [inputSize, hidden], row-major. */
  w1: ArrayLike<number>;
  /** [hidden] */
  b1: ArrayLike<number>;
  /** [hidden, classes], row-major. */
  w2: ArrayLike<number>;
  /** [classes] */
  b2: ArrayLike<number>;
}

export interface MlpSpec {
  inputSize: number;
  hidden: number;
  classes: number;
  /** Defaults to `defaultMlpWeights(spec)`: small, deterministic, not trained. */
  weights?: MlpWeights;
  inputName?: string;
  outputName?: string;
  producerName?: string;
  docString?: string;
}

/**
 * Deterministic weights in [-scale, scale): a hash of the index, so fixtures are identical on every
 * machine without a seeded generator to carry around.
 */
export function defaultMlpWeights(spec: Pick<MlpSpec, 'inputSize' | 'hidden' | 'classes'>, seed = 1): MlpWeights {
  const fill = (length: number, offset: number, scale: number): Float32Array => {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i += 1) {
      const x = Math.sin((i + offset) * 12.9898 + seed * 78.233) * 43758.5453;
      out[i] = (x - Math.floor(x) - 0.5) * 2 * scale;
    }
    return out;
  };
  const { inputSize, hidden, classes } = spec;
  return {
    w1: fill(inputSize * hidden, 0, 1 / Math.sqrt(inputSize)),
    b1: fill(hidden, 1e5, 0.1),
    w2: fill(hidden * classes, 2e5, 1 / Math.sqrt(hidden)),
    b2: fill(classes, 3e5, 0.1),
  };
}

function floatInitializer(name: string, dims: number[], values: ArrayLike<number>): Onnx.ITensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (values.length !== expected) {
    throw new Error(`initializer ${name}: ${values.length} values for dims [${dims.join(', ')}] (${expected} expected)`);
  }
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: Array.from(values) };
}

type DimSpec = number | string;

function tensorValue(name: string, elemType: number, dims: DimSpec[]): Onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function encodeModel(graph: Onnx.IGraphProto, producerName: string, docString?: string): Uint8Array {
  const model: Onnx.IModelProto = {
    irVersion: WRITER_IR_VERSION,
    producerName,
    producerVersion: '1',
    opsetImport: [{ domain: '', version: WRITER_OPSET }],
    graph,
    ...(docString ? { docString } : {}),
  };
  return onnx.ModelProto.encode(model).finish();
}

/** MatMul+Add+Relu+MatMul+Add+Softmax; input float32 [batch, inputSize] → output float32 [batch, classes]. */
export function buildMlpOnnx(spec: MlpSpec): Uint8Array {
  const { inputSize, hidden, classes } = spec;
  const weights = spec.weights ?? defaultMlpWeights(spec);
  const input = spec.inputName ?? 'input';
  const output = spec.outputName ?? 'output';
  const node = (opType: string, inputs: string[], out: string): Onnx.INodeProto => ({
    opType,
    input: inputs,
    output: [out],
    name: out,
  });
  const graph: Onnx.IGraphProto = {
    name: 'mlp',
    input: [tensorValue(input, onnx.TensorProto.DataType.FLOAT, ['batch', inputSize])],
    output: [tensorValue(output, onnx.TensorProto.DataType.FLOAT, ['batch', classes])],
    initializer: [
      floatInitializer('w1', [inputSize, hidden], weights.w1),
      floatInitializer('b1', [hidden], weights.b1),
      floatInitializer('w2', [hidden, classes], weights.w2),
      floatInitializer('b2', [classes], weights.b2),
    ],
    node: [
      node('MatMul', [input, 'w1'], 'hidden_linear'),
      node('Add', ['hidden_linear', 'b1'], 'hidden_biased'),
      node('Relu', ['hidden_biased'], 'hidden_relu'),
      node('MatMul', ['hidden_relu', 'w2'], 'logits_linear'),
      node('Add', ['logits_linear', 'b2'], 'logits'),
      // Opset 13's Softmax defaults to the last axis: the classes.
      node('Softmax', ['logits'], output),
    ],
  };
  return encodeModel(graph, spec.producerName ?? 'modelhub', spec.docString);
}

/** Two float32 inputs `a` and `b` of shape [batch, size] → `sum` = a + b. */
export function buildAddOnnx(options: { size?: number } = {}): Uint8Array {
  const size = options.size ?? 3;
  const dims: DimSpec[] = ['batch', size];
  const float = onnx.TensorProto.DataType.FLOAT;
  const graph: Onnx.IGraphProto = {
    name: 'add',
    input: [tensorValue('a', float, dims), tensorValue('b', float, dims)],
    output: [tensorValue('sum', float, dims)],
    node: [{ opType: 'Add', input: ['a', 'b'], output: ['sum'], name: 'sum' }],
  };
  return encodeModel(graph, 'modelhub');
}
