/** How JSON run inputs travel as Open Inference Protocol v2 tensors to containers and back. */
import { describe, expect, it } from 'vitest';
import { jsonToV2Inputs, v2OutputsToJson } from '../../servables/container-runtime.ts';
import { followBuildStream } from '../../hub-server/adapters/docker-container-engine.ts';
import { Readable } from 'node:stream';

describe('JSON to v2 tensors', () => {
  it('encodes rectangular arrays as typed tensors, row-major', () => {
    expect(jsonToV2Inputs([[1, 2, 3], [4, 5, 6]])).toEqual([{ name: 'input', shape: [2, 3], datatype: 'INT64', data: [1, 2, 3, 4, 5, 6] }]);
    expect(jsonToV2Inputs([[0.5], [1]])).toEqual([{ name: 'input', shape: [2, 1], datatype: 'FP64', data: [0.5, 1] }]);
    expect(jsonToV2Inputs([true, false])).toEqual([{ name: 'input', shape: [2], datatype: 'BOOL', data: [true, false] }]);
    expect(jsonToV2Inputs(['a', 'b'])).toEqual([{ name: 'input', shape: [2], datatype: 'BYTES', data: ['a', 'b'] }]);
  });

  it('encodes an object of arrays as named tensors and anything else as one JSON document', () => {
    expect(jsonToV2Inputs({ x: [1.5, 2], y: [[3]] })).toEqual([
      { name: 'x', shape: [2], datatype: 'FP64', data: [1.5, 2] },
      { name: 'y', shape: [1, 1], datatype: 'INT64', data: [3] },
    ]);
    for (const value of [{ text: 'hi', n: 2 }, [[1, 2], [3]], 'plain', 4, null, [1, 'a']]) {
      expect(jsonToV2Inputs(value)).toEqual([{ name: 'input', shape: [1], datatype: 'BYTES', data: [JSON.stringify(value)], parameters: { content_type: 'json' } }]);
    }
  });

  it('decodes outputs: one as itself, several by name, reshaped from flat or nested data', () => {
    expect(v2OutputsToJson([{ name: 'output', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] }])).toEqual([[1, 2], [3, 4]]);
    expect(v2OutputsToJson([{ name: 'output', shape: [2, 2], datatype: 'FP32', data: [[1, 2], [3, 4]] }])).toEqual([[1, 2], [3, 4]]);
    expect(v2OutputsToJson([
      { name: 'sum', shape: [1], datatype: 'FP64', data: [6] },
      { name: 'doc', shape: [1], datatype: 'BYTES', data: ['{"a":[1]}'], parameters: { content_type: 'json' } },
      { name: 'mask', shape: [2], datatype: 'BOOL', data: [1, 0] },
    ])).toEqual({ sum: [6], doc: { a: [1] }, mask: [true, false] });
  });
});

describe('Docker build stream', () => {
  it('hands every output line to the log and fails with the errorDetail line', async () => {
    const lines: string[] = [];
    const messages = [
      { stream: 'Step 1/2 : FROM modelhub/base:bookworm\n' },
      { stream: ' ---> 883c4ecf5104\nStep 2/2 : RUN false\n' },
      { stream: ' ---> Running in ab' },
      { stream: 'c\n' },
      { errorDetail: { code: 1, message: "The command '/bin/sh -c false' returned a non-zero code: 1" }, error: "The command '/bin/sh -c false' returned a non-zero code: 1" },
    ];
    // Split across chunk boundaries the way a socket delivers it.
    const text = messages.map((message) => JSON.stringify(message)).join('\r\n') + '\r\n';
    const chunks = [text.slice(0, 17), text.slice(17, 90), text.slice(90)];
    await expect(followBuildStream(Readable.from(chunks.map((chunk) => Buffer.from(chunk))), (line) => lines.push(line))).rejects.toMatchObject({
      code: 'MODELHUB_IMAGE_BUILD_FAILED',
      message: "The container image failed to build: The command '/bin/sh -c false' returned a non-zero code: 1",
    });
    expect(lines).toEqual([
      'Step 1/2 : FROM modelhub/base:bookworm',
      ' ---> 883c4ecf5104',
      'Step 2/2 : RUN false',
      ' ---> Running in abc',
      "ERROR: The command '/bin/sh -c false' returned a non-zero code: 1",
    ]);
  });
});
