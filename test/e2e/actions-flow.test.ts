/**
 * Model in the loop against the real hub: a flow classifies a digit with `demo/mnist-mlp` through
 * its own Action Provider, a Choice branches on the argmax, and a second servable
 * (`demo/silero-vad`, through `/actions/inference`) runs or the flow passes. The reference is the
 * same servables run directly over the hub API. Also: a failing action caught by the flow, the
 * providers' introspection, validation against the real input schemas, and actions surviving a
 * restart of the hub.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mnistSplit } from '../../builder/demo/mnist-classifier.ts';
import type { FlowDefinition } from '../../sdk/flows/flow-definition.ts';
import { runFlowToCompletion, type FlowEvent } from '../../sdk/flows/run-flow.ts';
import { validateFlow } from '../../sdk/flows/validate-flow.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';

let hub: TestHub;

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    ...init,
    headers: { 'content-type': 'application/json', ...(init?.headers ?? {}) },
  });
  return { status: response.status, body: await response.json() };
}

const directRun = async (servable: string, inputs: unknown) => {
  const reply = await json(`${hub.url}/api/v1/servables/${servable}/run`, { method: 'POST', body: JSON.stringify({ inputs }) });
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return reply.body.output;
};

const argmax = (values: number[]) => values.indexOf(Math.max(...values));
/** The 10 probabilities of the first row, whether the output is the tensor or `{name: tensor}`. */
const firstRow = (output: unknown): number[] =>
  Array.isArray(output) ? (output[0] as number[]) : (Object.values(output as Record<string, number[][]>)[0]![0]!);

/** `argmax == digit` as a Choice can say it: that probability is larger than each other one. */
function isDigitRule(digit: number, row: string) {
  return {
    And: Array.from({ length: 10 }, (_, k) => k)
      .filter((k) => k !== digit)
      .map((k) => ({ Variable: `${row}[${digit}]`, NumericGreaterThanPath: `${row}[${k}]` })),
  };
}

function modelInTheLoop(digit: number, rowPath: string): FlowDefinition {
  return {
    Comment: `If the image is a ${digit}, run voice activity detection on the audio; otherwise pass.`,
    StartAt: 'Classify',
    States: {
      Classify: {
        Type: 'Action',
        ActionUrl: `${hub.url}/actions/servables/demo/mnist-mlp`,
        Parameters: { 'inputs.$': '$.pixels' },
        ResultPath: '$.digit',
        WaitTime: 120,
        Next: 'IsTarget',
      },
      IsTarget: {
        Type: 'Choice',
        Choices: [{ ...isDigitRule(digit, rowPath), Next: 'DetectSpeech' }],
        Default: 'Skip',
      },
      DetectSpeech: {
        Type: 'Action',
        ActionUrl: `${hub.url}/actions/inference`,
        Parameters: { servable: 'demo/silero-vad', 'inputs.$': '$.audio' },
        ResultPath: '$.speech',
        WaitTime: 120,
        End: true,
      },
      Skip: { Type: 'Pass', Result: { skipped: true }, ResultPath: '$.speech', End: true },
    },
  };
}

const run = async (definition: FlowDefinition, input: unknown) => {
  const events: FlowEvent[] = [];
  const outcome = await runFlowToCompletion(definition, input, { pollInitialMs: 100, pollMaxMs: 500, onEvent: (e) => events.push(e) });
  return { outcome: outcome as { kind: string; output: any; error?: string }, events };
};

describe('Action Provider API and flows on the real hub', () => {
  let audio: unknown;
  let rowPath: string;
  const samples = mnistSplit().test;

  beforeAll(async () => {
    hub = await startTestHub({ demo: true });
    const request = JSON.parse(fs.readFileSync(path.join(hub.dataDir, 'demo', 'silero-vad.request.json'), 'utf8'));
    audio = request.inputs;
    const probe = await directRun('demo/mnist-mlp', [Array.from(samples[0]!.pixels)]);
    rowPath = Array.isArray(probe) ? '$.digit.details.output[0]' : `$.digit.details.output.${Object.keys(probe)[0]}[0]`;
  });
  let restartedDir: string | undefined;
  afterAll(async () => {
    await hub?.stop();
    if (restartedDir) fs.rmSync(restartedDir, { recursive: true, force: true });
  });

  it('introspects both providers; the servable one publishes the model’s input schema', async () => {
    const inference = await json(`${hub.url}/actions/inference`);
    expect(inference.status).toBe(200);
    expect(inference.body).toMatchObject({ types: ['Action'], api_version: '1.0', synchronous: false, log_supported: true });
    const mnist = await json(`${hub.url}/actions/servables/demo/mnist-mlp`);
    expect(mnist.status).toBe(200);
    const inputs = mnist.body.input_schema.properties.inputs;
    expect(inputs).toMatchObject({ type: 'array', items: { type: 'array', minItems: 784, maxItems: 784, items: { type: 'number' } } });
    expect((await json(`${hub.url}/actions/servables/demo/nothing`)).status).toBe(404);
  });

  it('classifies, branches on the argmax and runs the second servable, or passes', async () => {
    const image = Array.from(samples[0]!.pixels);
    const reference = firstRow(await directRun('demo/mnist-mlp', [image]));
    const digit = argmax(reference);
    const other = samples.find((s) => s.label !== digit)!;
    const otherReference = firstRow(await directRun('demo/mnist-mlp', [Array.from(other.pixels)]));
    const speechReference = await directRun('demo/silero-vad', audio);

    const definition = modelInTheLoop(digit, rowPath);
    expect(await validateFlow(definition, { fetch })).toMatchObject({ valid: true, errors: [] });

    const hit = await run(definition, { pixels: [image], audio });
    expect(hit.outcome.kind, JSON.stringify(hit.outcome)).toBe('flow_succeeded');
    const probabilities = firstRow(hit.outcome.output.digit.details.output);
    probabilities.forEach((p, i) => expect(p).toBeCloseTo(reference[i]!, 5));
    expect(hit.events).toContainEqual({ kind: 'choice_made', state: 'IsTarget', next: 'DetectSpeech' });
    expect(hit.outcome.output.speech.status).toBe('SUCCEEDED');
    expect(JSON.stringify(hit.outcome.output.speech.details.output)).toBe(JSON.stringify(speechReference));

    const miss = await run(definition, { pixels: [Array.from(other.pixels)], audio });
    expect(miss.outcome.kind).toBe('flow_succeeded');
    expect(argmax(firstRow(miss.outcome.output.digit.details.output))).toBe(argmax(otherReference));
    if (argmax(otherReference) !== digit) {
      expect(miss.outcome.output.speech).toEqual({ skipped: true });
    }
  });

  it('catches an action that fails inside the servable, with the error in the details', async () => {
    const broken = JSON.parse(JSON.stringify(audio)) as { state: number[][][] };
    // Two recurrent states for a batch of one window: fits the schema, fails in the model.
    broken.state = broken.state.map((layer) => [layer[0]!, layer[0]!]);
    const definition: FlowDefinition = {
      StartAt: 'DetectSpeech',
      States: {
        DetectSpeech: {
          Type: 'Action',
          ActionUrl: `${hub.url}/actions/servables/demo/silero-vad`,
          Parameters: { 'inputs.$': '$.audio' },
          ResultPath: '$.speech',
          Catch: [{ ErrorEquals: ['ActionFailedException'], ResultPath: '$.failure', Next: 'Report' }],
          End: true,
        },
        Report: { Type: 'Pass', Parameters: { 'error.$': '$.failure.details.error.code' }, ResultPath: '$.report', End: true },
      },
    };
    const { outcome, events } = await run(definition, { audio: broken });
    expect(outcome.kind, JSON.stringify(outcome)).toBe('flow_succeeded');
    expect(outcome.output.failure).toMatchObject({ Error: 'ActionFailedException', status: 'FAILED' });
    expect(outcome.output.report.error).toMatch(/^MODELHUB_/);
    expect(events.some((e) => e.kind === 'exception_caught')).toBe(true);
  });

  it('keeps actions across a restart of the hub', async () => {
    const request = { request_id: 'e2e-restart', body: { servable: 'demo/mnist-mlp', inputs: [Array.from(samples[1]!.pixels)] } };
    const first = await json(`${hub.url}/actions/inference/run`, { method: 'POST', body: JSON.stringify(request) });
    expect(first.status).toBe(202);
    expect(first.body.status).toBe('SUCCEEDED');
    const dataDir = hub.dataDir;
    restartedDir = dataDir;
    await hub.kill();
    hub = await startTestHub({ dataDir, demo: true });
    const status = await json(`${hub.url}/actions/inference/${first.body.action_id}/status`);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ action_id: first.body.action_id, status: 'SUCCEEDED' });
    const again = await json(`${hub.url}/actions/inference/run`, { method: 'POST', body: JSON.stringify(request) });
    expect(again.status).toBe(200);
    expect(again.body.action_id).toBe(first.body.action_id);
  });
});
