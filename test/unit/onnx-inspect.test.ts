import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { HubError } from '../../schemas/errors.ts';
import { inspectOnnxBytes, onnxFactsToMethod, type OnnxFacts } from '../../servables/onnx-inspect.ts';
import { buildAddOnnx, buildMlpOnnx } from '../fixtures/onnx-builders.ts';

const { onnx } = onnxProto;
const VAD_DIR = fileURLToPath(new URL('../../node_modules/@ricky0123/vad-web/dist/', import.meta.url));
const SILERO_FILES = ['silero_vad_v5.onnx', 'silero_vad_v6.onnx', 'silero_vad_legacy.onnx'].map((f) => VAD_DIR + f);
const silero = readFileSync(SILERO_FILES[0]!);

function expectInvalidModel(bytes: Uint8Array, message?: RegExp): HubError {
  try {
    inspectOnnxBytes(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(HubError);
    const hubError = error as HubError;
    expect(hubError.code).toBe('MODELHUB_INVALID_MODEL');
    if (message) expect(hubError.message).toMatch(message);
    return hubError;
  }
  throw new Error('inspectOnnxBytes accepted bytes that are not a usable ONNX model');
}

/** A model around `graph` with what real files carry, so only the graph decides the outcome. */
const encode = (graph: onnxProto.onnx.IGraphProto, irVersion = 8): Uint8Array =>
  onnx.ModelProto.encode({ irVersion, opsetImport: [{ domain: '', version: 13 }], producerName: 'test', graph }).finish();

const floatInput = (name: string, dims: (number | string)[], elemType: number = onnx.TensorProto.DataType.FLOAT) => ({
  name,
  type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
});

describe('inspectOnnxBytes on the real Silero VAD v5', () => {
  const facts = inspectOnnxBytes(silero);

  it('reads inputs input/state/sr with their dtypes and dynamic dims', () => {
    expect(facts.inputs).toEqual([
      { name: 'input', dtype: 'float32', shape: [null, null], dimNames: [null, null] },
      { name: 'state', dtype: 'float32', shape: [2, null, 128], dimNames: [null, null, null] },
      { name: 'sr', dtype: 'int64', shape: [], dimNames: [] },
    ]);
    expect(facts.outputs.map((o) => [o.name, o.dtype, o.shape])).toEqual([
      ['output', 'float32', [null, 1]],
      ['stateN', 'float32', [null, null, null]],
    ]);
    expect(facts).toMatchObject({ opset: 16, irVersion: 8, producerName: 'spox', nodeCount: 5, initializerCount: 0 });
  });

  it('maps several inputs to a dict method with the tensor names in method_details', () => {
    const method = onnxFactsToMethod(facts);
    expect(method.input).toEqual({
      type: 'dict',
      properties: {
        input: { type: 'ndarray', shape: [null, null], dtype: 'float32' },
        state: { type: 'ndarray', shape: [2, null, 128], dtype: 'float32' },
        sr: { type: 'ndarray', shape: [], dtype: 'int64' },
      },
    });
    expect(method.output.type).toBe('dict');
    expect(method.method_details).toEqual({ input_names: ['input', 'state', 'sr'], output_names: ['output', 'stateN'] });
  });
});

// The independent reference: the official `onnx` Python package reading the same files.
const PY_REFERENCE = `
import json, sys, onnx
from onnx import mapping
out = []
for path in sys.argv[1:]:
    m = onnx.load(path)
    inits = {i.name for i in m.graph.initializer}
    def info(v):
        t = v.type.tensor_type
        dims = t.shape.dim
        return {"name": v.name, "dtype": str(mapping.TENSOR_TYPE_TO_NP_TYPE[t.elem_type]),
                "shape": [d.dim_value if d.HasField("dim_value") else None for d in dims],
                "dimNames": [d.dim_param if d.HasField("dim_param") else None for d in dims]}
    out.append({"inputs": [info(v) for v in m.graph.input if v.name not in inits],
                "outputs": [info(v) for v in m.graph.output],
                "opset": next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
                "irVersion": m.ir_version, "producerName": m.producer_name, "nodeCount": len(m.graph.node),
                "initializerCount": len(inits)})
print(json.dumps(out))
`;

function pythonOnnxReference(paths: string[]): unknown[] | undefined {
  try {
    return JSON.parse(execFileSync('/usr/bin/python3', ['-c', PY_REFERENCE, ...paths], { encoding: 'utf8' })) as unknown[];
  } catch (error) {
    // CI installs python3-onnx; a laptop without it skips only this cross-check.
    if (process.env.CI) throw error;
    return undefined;
  }
}

describe('inspectOnnxBytes agrees with the onnx Python package', () => {
  const reference = pythonOnnxReference(SILERO_FILES);
  it.runIf(reference !== undefined)('on Silero v5, v6 and the legacy model', () => {
    const ours = SILERO_FILES.map((path) => {
      const { inputs, outputs, opset, irVersion, producerName, nodeCount, initializerCount }: OnnxFacts =
        inspectOnnxBytes(readFileSync(path));
      return { inputs, outputs, opset, irVersion, producerName, nodeCount, initializerCount };
    });
    expect(ours).toEqual(reference);
    // The legacy model lists 69 weights as graph inputs too (IR 3 style); they are not model inputs.
    expect(ours[2]!.inputs.map((i) => i.name)).toEqual(['input', 'sr', 'h', 'c']);
  });
});

describe('inspectOnnxBytes on models written with onnx-proto', () => {
  it('keeps the dim names of dynamic dims and maps one input to an ndarray', () => {
    const facts = inspectOnnxBytes(buildMlpOnnx({ inputSize: 4, hidden: 3, classes: 2, inputName: 'x', outputName: 'y' }));
    expect(facts.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: [null, 4], dimNames: ['batch', null] }]);
    expect(facts.outputs).toEqual([{ name: 'y', dtype: 'float32', shape: [null, 2], dimNames: ['batch', null] }]);
    expect(facts).toMatchObject({ opset: 13, irVersion: 8, producerName: 'modelhub', nodeCount: 6, initializerCount: 4 });
    expect(onnxFactsToMethod(facts)).toEqual({
      input: { type: 'ndarray', shape: [null, 4], dtype: 'float32' },
      output: { type: 'ndarray', shape: [null, 2], dtype: 'float32' },
      method_details: { input_names: ['x'], output_names: ['y'] },
    });
  });

  it('maps two inputs to a dict', () => {
    const method = onnxFactsToMethod(inspectOnnxBytes(buildAddOnnx({ size: 5 })));
    expect(method.input).toEqual({
      type: 'dict',
      properties: {
        a: { type: 'ndarray', shape: [null, 5], dtype: 'float32' },
        b: { type: 'ndarray', shape: [null, 5], dtype: 'float32' },
      },
    });
    expect(method.output).toEqual({ type: 'ndarray', shape: [null, 5], dtype: 'float32' });
  });

  it('names numpy dtypes for ONNX element types', () => {
    const T = onnx.TensorProto.DataType;
    const cases: [number, string][] = [
      [T.FLOAT, 'float32'], [T.DOUBLE, 'float64'], [T.FLOAT16, 'float16'], [T.INT64, 'int64'], [T.INT32, 'int32'],
      [T.INT8, 'int8'], [T.UINT8, 'uint8'], [T.UINT64, 'uint64'], [T.BOOL, 'bool'], [T.STRING, 'string'],
    ];
    const graph = {
      input: cases.map(([elemType], i) => floatInput(`in${i}`, [1], elemType)),
      output: cases.map(([elemType], i) => floatInput(`in${i}`, [1], elemType)),
    };
    const facts = inspectOnnxBytes(encode(graph));
    expect(facts.inputs.map((i) => i.dtype)).toEqual(cases.map(([, dtype]) => dtype));
  });

  it('marks an output without any shape as of unknown rank', () => {
    const graph = {
      input: [floatInput('x', ['n'])],
      output: [{ name: 'y', type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }],
      node: [{ opType: 'Relu', input: ['x'], output: ['y'] }],
    };
    const facts = inspectOnnxBytes(encode(graph));
    expect(facts.outputs[0]).toMatchObject({ name: 'y', unknownRank: true });
    expect(onnxFactsToMethod(facts).output).toMatchObject({ type: 'any' });
  });
});

describe('inspectOnnxBytes refuses what is not a usable ONNX model', () => {
  it('refuses empty, text, JSON and image bytes', () => {
    expectInvalidModel(new Uint8Array(), /not an ONNX model: the file is empty/);
    expectInvalidModel(new TextEncoder().encode('hello, this is not a model\n'), /not an ONNX model/);
    expectInvalidModel(new TextEncoder().encode('{"format": "keras", "weights": [1, 2, 3]}'), /not an ONNX model/);
    expectInvalidModel(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), /not an ONNX model/);
  });

  it('refuses 2000 random byte strings, including those protobuf decodes without complaint', () => {
    let state = 12345;
    const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let n = 0; n < 2000; n += 1) {
      const bytes = Uint8Array.from({ length: 1 + Math.floor(next() * 400) }, () => Math.floor(next() * 256));
      expectInvalidModel(bytes, /not an ONNX model|the graph has no/);
    }
  });

  it('refuses Silero truncated anywhere', () => {
    for (let i = 1; i < 60; i += 1) {
      const cut = Math.floor((silero.length * i) / 60);
      expectInvalidModel(silero.subarray(0, cut));
    }
    // Cut just after the graph, before opset_import: every field that is present decodes cleanly.
    const mlp = buildMlpOnnx({ inputSize: 3, hidden: 2, classes: 2 });
    const withoutOpsets = onnx.ModelProto.encode({ ...onnx.ModelProto.decode(mlp), opsetImport: [] }).finish();
    expectInvalidModel(withoutOpsets, /imports no operator set/);
  });

  it('says when the graph has no inputs or no graph at all', () => {
    const constantOnly = {
      output: [floatInput('y', [1])],
      node: [
        {
          opType: 'Constant',
          output: ['y'],
          attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: { dims: [1], dataType: 1, floatData: [1] } }],
        },
      ],
    };
    expectInvalidModel(encode(constantOnly), /the graph has no inputs/);
    expectInvalidModel(onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }] }).finish(), /has no graph/);
    expectInvalidModel(encode({ input: [floatInput('x', [1])], output: [] }), /the graph has no outputs/);
  });

  it('names element types the hub cannot carry', () => {
    const complex = onnx.TensorProto.DataType.COMPLEX64;
    const graph = {
      input: [floatInput('z', [2], complex)],
      output: [floatInput('z', [2], complex)],
    };
    expectInvalidModel(encode(graph), /input "z" has element type COMPLEX64/);
  });
});
