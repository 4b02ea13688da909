/**
 * Heavy publish work stays off the event loop (issue 19, item 22): while a ~100 MB ONNX model is
 * inspected (its protobuf decoded, an onnxruntime session opened: about ten seconds of CPU on the
 * event loop before the fix), the hub keeps answering /v2/health/live. Not an absolute timing test:
 * by the task's own timestamps, it takes the health replies that arrive while the inspect step runs
 * and asserts that no stretch without a reply covers half the step. On a blocked loop the decode
 * alone is most of the step (the file read and the session's start leave the loop free, so a few
 * replies do arrive at the step's edges); on a free loop the longest stretch is one reply's time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskDocument } from '../../schemas/api.ts';
import { buildLargeOnnx } from '../fixtures/onnx-builders.ts';
import { onnxMetadata, postJson, publishRaw, waitForTask } from '../helpers/hub-http.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';

/** Far below what an event loop that is free answers in the seconds the inspection takes. */
const MIN_HEALTH_REPLIES_DURING_INSPECTION = 20;
/** The longest silence allowed, as a share of the inspect step (a blocked loop: about 0.7 or more). */
const MAX_SILENT_SHARE_OF_INSPECTION = 0.5;

let hub: TestHub;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-availability-'));
  hub = await startTestHub({ env: { MODELHUB_MAX_UPLOAD_MB: '256' } });
});
afterAll(async () => {
  await hub?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('availability: a large publish does not stall the hub', () => {
  it('answers /v2/health/live all along while a ~100 MB ONNX model is inspected', async () => {
    const file = path.join(dir, 'large.onnx');
    // float_data: the encoding protobufjs decodes slowest (one JS number per float).
    fs.writeFileSync(file, buildLargeOnnx({ floatDataMegabytes: 96, rawDataMegabytes: 4 }));

    const accepted = await publishRaw(hub.url, onnxMetadata('avail', 'large'), [{ name: 'large.onnx', path: file }]);
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    let done = false;
    const finished = waitForTask(hub.url, accepted.body.task_id, 600_000).finally(() => (done = true));
    // One health request at a time, for as long as the publish runs; each reply's arrival time kept.
    const replies: number[] = [];
    const health = (async () => {
      while (!done) {
        const response = await fetch(`${hub.url}/v2/health/live`);
        expect(response.status).toBe(200);
        await response.arrayBuffer();
        replies.push(Date.now());
      }
    })();
    const task: TaskDocument = await finished;
    await health;

    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    const inspect = task.steps!.find((step) => step.name === 'inspect')!;
    const [from, to] = [Date.parse(inspect.started_at!), Date.parse(inspect.completed_at!)];
    const during = replies.filter((at) => at > from && at < to).length;
    expect(during, `${during} health replies in the ${to - from} ms of inspection`).toBeGreaterThanOrEqual(MIN_HEALTH_REPLIES_DURING_INSPECTION);
    const edges = [from, ...replies.filter((at) => at > from && at < to), to];
    const silence = Math.max(...edges.slice(1).map((at, i) => at - edges[i]!));
    expect(silence / (to - from), `no health reply for ${silence} ms of the ${to - from} ms of inspection`).toBeLessThan(MAX_SILENT_SHARE_OF_INSPECTION);
    // And the model the inspection described runs.
    const run = await postJson(`${hub.url}/api/v1/servables/avail/large/run`, { inputs: [2.5] });
    expect(run.body.output).toEqual([2.5]);
  });
});
