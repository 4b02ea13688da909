/**
 * A heavier model for the benchmark: a dense MLP 784→2048→2048→10 (about 5.8 M multiply-adds per
 * row, 23 MB of weights), where running the model, not HTTP, is most of what a request costs —
 * the case dynamic batching exists for. Weights are deterministic and raw little-endian floats.
 */
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { WRITER_IR_VERSION, WRITER_OPSET } from '../builder/demo/onnx-writer.ts';

const { onnx } = onnxProto;

export const DEEP_MLP_LAYERS = [784, 2048, 2048, 10] as const;

function weights(length: number, fanIn: number, seed: number): Uint8Array {
  const out = new Float32Array(length);
  const scale = 1 / Math.sqrt(fanIn);
  // A cheap deterministic generator: the values only need to be finite and varied.
  let state = seed * 2654435761;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = (state / 4294967296 - 0.5) * 2 * scale;
  }
  return new Uint8Array(out.buffer);
}

/** input float32 [batch, 784] → output float32 [batch, 10] (softmax). */
export function buildDeepMlpOnnx(layers: readonly number[] = DEEP_MLP_LAYERS): Uint8Array {
  const float = onnx.TensorProto.DataType.FLOAT;
  const value = (name: string, width: number): Onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: float, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } },
  });
  const initializer: Onnx.ITensorProto[] = [];
  const node: Onnx.INodeProto[] = [];
  let current = 'input';
  for (let l = 0; l + 1 < layers.length; l++) {
    const [fanIn, fanOut] = [layers[l]!, layers[l + 1]!];
    initializer.push({ name: `w${l}`, dims: [fanIn, fanOut], dataType: float, rawData: weights(fanIn * fanOut, fanIn, l + 1) });
    initializer.push({ name: `b${l}`, dims: [fanOut], dataType: float, rawData: weights(fanOut, fanIn, l + 101) });
    node.push({ opType: 'MatMul', input: [current, `w${l}`], output: [`mm${l}`], name: `mm${l}` });
    node.push({ opType: 'Add', input: [`mm${l}`, `b${l}`], output: [`add${l}`], name: `add${l}` });
    const last = l + 2 === layers.length;
    node.push({ opType: last ? 'Softmax' : 'Relu', input: [`add${l}`], output: [last ? 'output' : `act${l}`], name: last ? 'output' : `act${l}` });
    current = `act${l}`;
  }
  const graph: Onnx.IGraphProto = {
    name: 'deep_mlp',
    input: [value('input', layers[0]!)],
    output: [value('output', layers[layers.length - 1]!)],
    initializer,
    node,
  };
  return onnx.ModelProto.encode({
    irVersion: WRITER_IR_VERSION,
    producerName: 'modelhub-bench',
    producerVersion: '1',
    opsetImport: [{ domain: '', version: WRITER_OPSET }],
    graph,
  }).finish();
}
