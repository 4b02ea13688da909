/**
 * The Open Inference Protocol's binary tensor data extension: a JSON header of
 * `Inference-Header-Content-Length` bytes, then each binary tensor's raw little-endian bytes in
 * input order (`parameters.binary_data_size` each). BYTES elements are a 4-byte little-endian length
 * and the bytes. Lengths that do not add up are a 400, never a guess.
 */
import { HubError } from '../errors.ts';
import { assertValid } from '../validate.ts';
import type { Tensor, TypedArray } from '../ports/servable.ts';
import { checkJsonDepth, dtypeFromV2, bytesPerElement } from './tensors.ts';
import { InferRequest, type InferResponse } from '../v2.ts';

export const INFERENCE_HEADER = 'inference-header-content-length';

const VIEW_TYPES = {
  bool: Uint8Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;

function decodeBytesElements(chunk: Buffer, name: string): string[] {
  const out: string[] = [];
  let offset = 0;
  while (offset < chunk.length) {
    if (offset + 4 > chunk.length) throw new HubError('BAD_REQUEST', `input ${name}: truncated BYTES element length`);
    const length = chunk.readUInt32LE(offset);
    offset += 4;
    if (offset + length > chunk.length) throw new HubError('BAD_REQUEST', `input ${name}: BYTES element longer than its data`);
    out.push(chunk.toString('utf8', offset, offset + length));
    offset += length;
  }
  return out;
}

export function decodeBinaryInfer(body: Buffer | undefined, headerValue: string | string[] | undefined): InferRequest {
  const headerLength = Number(Array.isArray(headerValue) ? headerValue[0] : headerValue);
  if (!Buffer.isBuffer(body)) throw new HubError('BAD_REQUEST', `a binary inference request needs a body (send it as application/octet-stream, or with no Content-Type)`);
  if (!Number.isInteger(headerLength) || headerLength <= 0 || headerLength > body.length) {
    throw new HubError('BAD_REQUEST', `Inference-Header-Content-Length ${headerValue} does not fit a body of ${body.length} bytes`);
  }
  let header: unknown;
  try {
    header = JSON.parse(body.toString('utf8', 0, headerLength));
  } catch (error) {
    throw new HubError('BAD_REQUEST', `the inference header is not JSON: ${(error as Error).message}`);
  }
  // The app's depth check saw only a Buffer: the header's JSON is checked here, as every body is.
  checkJsonDepth(header);
  const request = assertValid(InferRequest, header, 'BAD_REQUEST');
  let offset = headerLength;
  for (const input of request.inputs) {
    const size = input.parameters?.binary_data_size;
    if (size === undefined) continue;
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || offset + size > body.length) {
      throw new HubError('BAD_REQUEST', `input ${input.name}: binary_data_size ${String(size)} runs past the end of the body`);
    }
    const chunk = body.subarray(offset, offset + size);
    offset += size;
    const dtype = dtypeFromV2(input.datatype);
    if (!dtype) throw new HubError('BAD_REQUEST', `input ${input.name}: unknown datatype ${input.datatype}`);
    const count = input.shape.reduce((a, b) => a * b, 1);
    if (dtype === 'string') {
      const strings = decodeBytesElements(chunk, input.name);
      if (strings.length !== count) throw new HubError('BAD_REQUEST', `input ${input.name}: ${strings.length} BYTES elements for shape [${input.shape}]`);
      input.data = strings;
      continue;
    }
    if (dtype === 'float16') throw new HubError('BAD_REQUEST', `input ${input.name}: binary FP16 is not supported; send FP32`);
    if (chunk.length !== count * bytesPerElement(dtype)) {
      throw new HubError('BAD_REQUEST', `input ${input.name}: ${chunk.length} bytes do not hold shape [${input.shape}] of ${input.datatype}`);
    }
    // Copy into an aligned buffer: the body's offset need not be a multiple of the element size.
    const aligned = new Uint8Array(chunk.length);
    aligned.set(chunk);
    const View = VIEW_TYPES[dtype];
    input.data = new View(aligned.buffer, 0, count) as TypedArray;
  }
  if (offset !== body.length) throw new HubError('BAD_REQUEST', `the body has ${body.length - offset} bytes beyond its declared tensors`);
  return request;
}

/** Move the wanted outputs' data into a binary tail; undefined when none is wanted. */
export function encodeBinaryOutputs(
  response: InferResponse,
  tensors: Record<string, Tensor>,
  wantBinary: (name: string) => boolean,
): { headerLength: number; body: Buffer } | undefined {
  const chunks: Buffer[] = [];
  for (const output of response.outputs) {
    const tensor = tensors[output.name];
    if (!tensor || !wantBinary(output.name)) continue;
    let bytes: Buffer;
    if (tensor.dtype === 'string') {
      bytes = Buffer.concat((tensor.data as string[]).flatMap((s) => {
        const text = Buffer.from(s, 'utf8');
        const length = Buffer.alloc(4);
        length.writeUInt32LE(text.length);
        return [length, text];
      }));
    } else {
      const data = tensor.data as TypedArray;
      bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    }
    delete output.data;
    output.parameters = { ...output.parameters, binary_data_size: bytes.length };
    chunks.push(bytes);
  }
  if (chunks.length === 0) return undefined;
  const header = Buffer.from(JSON.stringify(response), 'utf8');
  return { headerLength: header.length, body: Buffer.concat([header, ...chunks]) };
}
