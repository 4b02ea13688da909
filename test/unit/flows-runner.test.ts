/**
 * The flow runner over real HTTP against the actions plugin (bare fastify, a RunService that
 * computes): branching on a model's answer, polling, Catch, timeouts, Pass/Wait/Fail/ExpressionEval, the
 * Choice operators, and the CLI commands.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateRule } from '../../sdk/flows/choice.ts';
import type { FlowDefinition } from '../../sdk/flows/flow-definition.ts';
import { buildCli } from '../../hub-server/cli.ts';
import { registerFlowCommands } from '../../sdk/flows/flow-commands.ts';
import { readPath, writePath } from '../../sdk/flows/json-path.ts';
import { runFlowToCompletion, type FlowEvent } from '../../sdk/flows/run-flow.ts';
import { startActionsTestApp, type ActionsTestApp } from '../fixtures/flows/actions-test-app.ts';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/flows');
let dir: string;
let hub: ActionsTestApp;

function fixture(name: string): FlowDefinition {
  const text = readFileSync(path.join(FIXTURES, name), 'utf8').replaceAll('http://127.0.0.1:8700', hub.url);
  return JSON.parse(text) as FlowDefinition;
}

async function run(definition: FlowDefinition, input: unknown) {
  const events: FlowEvent[] = [];
  const outcome = await runFlowToCompletion(definition, input, {
    pollInitialMs: 50,
    pollMaxMs: 200,
    onEvent: (event) => events.push(event),
  });
  return { outcome, events };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'modelhub-flows-'));
  hub = await startActionsTestApp(dir, { listen: true });
});
afterAll(async () => {
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('model in the loop', () => {
  it('classifies, branches on the class, and runs the second servable', async () => {
    const row = [0.1, 0.9, 0.2, 0.3];
    const { outcome, events } = await run(fixture('digit-in-the-loop.json'), { image: [row] });
    expect(outcome.kind).toBe('flow_succeeded');
    const output = (outcome as { output: Record<string, { details: { output: number | number[] }; status?: string }> }).output;
    expect(output.classification.details.output).toEqual([row.indexOf(Math.max(...row))]);
    expect(output.sum.status).toBe('SUCCEEDED');
    expect(output.sum.details.output as number).toBeCloseTo(row.reduce((a, b) => a + b, 0), 12);
    expect(events.filter((e) => e.kind === 'state_entered').map((e) => (e as { state: string }).state)).toEqual([
      'Classify',
      'IsOne',
      'SumRow',
    ]);
    expect(events).toContainEqual({ kind: 'choice_made', state: 'IsOne', next: 'SumRow' });
  });

  it('passes when the class is not the one the Choice looks for', async () => {
    const row = [0.7, 0.1, 0.05, 0.15];
    const { outcome } = await run(fixture('digit-in-the-loop.json'), { image: [row] });
    expect(outcome).toMatchObject({ kind: 'flow_succeeded', output: { sum: { skipped: true, class: 0 } } });
  });
});

describe('actions: polling, failures, timeouts', () => {
  it('polls a long action with back-off until it completes, and releases it', async () => {
    const definition: FlowDefinition = {
      StartAt: 'Slow',
      States: {
        Slow: {
          Type: 'Action',
          ActionUrl: `${hub.url}/actions/servables/test/slow`,
          InputPath: '$.request',
          ResultPath: '$.slow',
          End: true,
        },
      },
    };
    const { outcome, events } = await run(definition, { request: { inputs: { ms: 600, value: 4.5 } } });
    expect(outcome).toMatchObject({ kind: 'flow_succeeded', output: { slow: { status: 'SUCCEEDED', details: { output: 9 } } } });
    const polls = events.filter((e) => e.kind === 'action_polled') as Extract<FlowEvent, { kind: 'action_polled' }>[];
    expect(polls.length).toBeGreaterThan(1);
    expect(polls[1].next_poll_ms).toBeGreaterThan(polls[0].next_poll_ms);
    const id = (outcome as { output: { slow: { action_id: string } } }).output.slow.action_id;
    expect((await fetch(`${hub.url}/actions/servables/test/slow/${id}/status`)).status).toBe(404);
  });

  it('catches a failing action and goes on with the error at the Catch ResultPath', async () => {
    const { outcome, events } = await run(fixture('caught-failure.json'), { anything: 1 });
    expect(outcome.kind).toBe('flow_succeeded');
    const output = (outcome as {
      output: { outcome: string; failure: { Error: string; status: string; details: { error: { message: string } } } };
    }).output;
    expect(output.outcome).toBe('recovered');
    expect(output.failure.Error).toBe('ActionFailedException');
    expect(output.failure.status).toBe('FAILED');
    expect(output.failure.details.error.message).toMatch(/division by zero in the servable/);
    expect(events.some((e) => e.kind === 'exception_caught' && e.next === 'Recover')).toBe(true);
  });

  it('fails the flow on an uncaught action failure, and keeps the FAILED status when ExceptionOnActionFailure is false', async () => {
    const uncaught = fixture('caught-failure.json');
    delete (uncaught.States.Explode as { Catch?: unknown }).Catch;
    const failed = await run(uncaught, { anything: 1 });
    expect(failed.outcome).toMatchObject({ kind: 'flow_failed', state: 'Explode', error: 'ActionFailedException' });

    const tolerant = fixture('caught-failure.json');
    Object.assign(tolerant.States.Explode, { ExceptionOnActionFailure: false });
    const kept = await run(tolerant, { anything: 1 });
    expect(kept.outcome).toMatchObject({ kind: 'flow_succeeded', output: { result: { status: 'FAILED' } } });
  });

  it('raises ActionUnableToRun for a run the provider refuses, which States.ALL catches', async () => {
    const definition: FlowDefinition = {
      StartAt: 'Bad',
      States: {
        Bad: {
          Type: 'Action',
          ActionUrl: `${hub.url}/actions/inference`,
          Parameters: { servable: 'test/nothing', inputs: 1 },
          Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Handled' }],
          End: true,
        },
        Handled: { Type: 'Pass', End: true },
      },
    };
    const { outcome } = await run(definition, {});
    expect(outcome).toMatchObject({
      kind: 'flow_succeeded',
      output: { error: { Error: 'ActionUnableToRun', error: { code: 'MODELHUB_SERVABLE_NOT_FOUND' } } },
    });
  });

  it('raises ActionTimeout after WaitTime and cancels the action', async () => {
    const definition: FlowDefinition = {
      StartAt: 'TooSlow',
      States: {
        TooSlow: {
          Type: 'Action',
          ActionUrl: `${hub.url}/actions/servables/test/slow`,
          Parameters: { inputs: { ms: 5000, value: 1 } },
          WaitTime: 0.4,
          End: true,
        },
      },
    };
    const { outcome, events } = await run(definition, {});
    expect(outcome).toMatchObject({ kind: 'flow_failed', error: 'ActionTimeout' });
    const started = events.find((e) => e.kind === 'action_started') as { action_id: string };
    const status = await (await fetch(`${hub.url}/actions/servables/test/slow/${started.action_id}/status`)).json();
    expect(status).toMatchObject({ status: 'FAILED', display_status: 'Cancelled' });
  });
});

describe('Pass, Wait, Fail and Choice', () => {
  it('runs the other state types', async () => {
    const definition: FlowDefinition = {
      StartAt: 'Shape',
      States: {
        Shape: { Type: 'Pass', Parameters: { 'n.$': '$.count', fixed: 'x' }, ResultPath: '$.shaped', Next: 'Pause' },
        Pause: { Type: 'Wait', SecondsPath: '$.pause', Next: 'Decide' },
        Decide: {
          Type: 'Choice',
          Choices: [
            { And: [{ Variable: '$.shaped.n', NumericGreaterThan: 2 }, { Variable: '$.label', StringMatches: 'big*' }], Next: 'Big' },
            { Not: { Variable: '$.label', IsPresent: true }, Next: 'Unlabelled' },
          ],
          Default: 'Small',
        },
        Big: { Type: 'Fail', Error: 'TooBig', CausePath: '$.label' },
        Unlabelled: { Type: 'Pass', End: true },
        Small: { Type: 'Pass', Result: { small: true }, ResultPath: '$.verdict', End: true },
      },
    };
    const started = Date.now();
    const big = await run(definition, { count: 3, label: 'big one', pause: 0.2 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(big.outcome).toMatchObject({ kind: 'flow_failed', state: 'Big', error: 'TooBig', cause: 'big one' });
    const unlabelled = await run(definition, { count: 3, pause: 0 });
    expect(unlabelled.outcome).toMatchObject({ kind: 'flow_succeeded', output: { shaped: { n: 3, fixed: 'x' } } });
    const small = await run(definition, { count: 1, label: 'big', pause: 0 });
    expect(small.outcome).toMatchObject({ kind: 'flow_succeeded', output: { verdict: { small: true } } });
  });

  it('evaluates the comparison operators with the States Language rules', () => {
    const data = { n: 5, s: 'beta', b: true, t: '2026-01-02T00:00:00Z', other: 5, nil: null };
    const cases: [Record<string, unknown>, boolean][] = [
      [{ Variable: '$.n', NumericEquals: 5 }, true],
      [{ Variable: '$.n', NumericLessThanEquals: 4 }, false],
      [{ Variable: '$.n', NumericGreaterThanEquals: 5 }, true],
      [{ Variable: '$.n', NumericEqualsPath: '$.other' }, true],
      [{ Variable: '$.s', StringEquals: 'beta' }, true],
      [{ Variable: '$.s', StringLessThan: 'gamma' }, true],
      [{ Variable: '$.s', StringGreaterThan: 'gamma' }, false],
      [{ Variable: '$.s', StringMatches: 'b*a' }, true],
      [{ Variable: '$.b', BooleanEquals: true }, true],
      [{ Variable: '$.t', TimestampGreaterThan: '2026-01-01T00:00:00Z' }, true],
      [{ Variable: '$.t', TimestampEquals: '2026-01-02T00:00:00+00:00' }, true],
      [{ Variable: '$.n', StringEquals: '5' }, false],
      [{ Variable: '$.missing', NumericEquals: 5 }, false],
      [{ Variable: '$.nil', IsNull: true }, true],
      [{ Variable: '$.n', IsNumeric: true }, true],
      [{ Variable: '$.s', IsString: false }, false],
      [{ Variable: '$.t', IsTimestamp: true }, true],
      [{ Variable: '$.missing', IsPresent: false }, true],
      [{ Or: [{ Variable: '$.n', NumericEquals: 1 }, { Variable: '$.b', BooleanEquals: true }] }, true],
    ];
    for (const [rule, expected] of cases) expect(evaluateRule(rule, data), JSON.stringify(rule)).toBe(expected);
  });

  it('reads and writes JSONPaths', () => {
    expect(readPath({ a: [{ b: 1 }, { b: 2 }] }, '$.a[1].b')).toEqual({ found: true, value: 2 });
    expect(readPath({ a: [{ b: 1 }, { b: 2 }] }, '$.a[*].b')).toEqual({ found: true, value: [1, 2] });
    expect(readPath({}, '$.nope')).toEqual({ found: false, value: undefined });
    expect(writePath({ keep: 1 }, '$.x.y', 2)).toEqual({ keep: 1, x: { y: 2 } });
    expect(writePath({ keep: 1 }, '$', 2)).toBe(2);
    expect(() => writePath({}, '$.a[*]', 1)).toThrow(/one place/);
  });
});

describe('modelhub flow CLI', () => {
  it('runs a flow file and prints each step; validates offline', async () => {
    const flowFile = path.join(dir, 'flow.json');
    const inputFile = path.join(dir, 'input.json');
    writeFileSync(flowFile, JSON.stringify(fixture('digit-in-the-loop.json')));
    writeFileSync(inputFile, JSON.stringify({ image: [[0, 1, 0, 0]] }));
    const lines: string[] = [];
    const output = { out: (t: string) => lines.push(t), err: (t: string) => lines.push(`ERR ${t}`) };
    const program = new Command().exitOverride();
    registerFlowCommands(program, output);
    await program.parseAsync(['flow', 'run', flowFile, '--input', inputFile, '--poll-max', '100'], { from: 'user' });
    const text = lines.join('\n');
    expect(text).toMatch(/▶ Classify \(Action\)/);
    expect(text).toMatch(/→ SumRow/);
    expect(text).toMatch(/✓ flow succeeded/);

    lines.length = 0;
    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, readFileSync(path.join(FIXTURES, 'broken.json')));
    const previous = process.exitCode;
    await program.parseAsync(['flow', 'validate', broken, '--offline'], { from: 'user' });
    expect(process.exitCode).toBe(1);
    process.exitCode = previous;
    expect(lines.join('\n')).toMatch(/state "Second": unknown state Type "Teleport"/);
  });
});

describe('the Globus Flows language at run time (issue 19)', () => {
  it('sends Parameters with `.=` expressions evaluated and __Private_Parameters stripped, to a provider that refuses extra keys', async () => {
    const sent: unknown[] = [];
    // The real fetch, with each /run body kept: what the provider really received.
    const recording: typeof fetch = async (url, init) => {
      if (String(url).endsWith('/run')) sent.push(JSON.parse(String(init?.body)));
      return fetch(url, init);
    };
    const definition: FlowDefinition = {
      StartAt: 'Sum',
      States: {
        Sum: {
          Type: 'Action',
          ActionUrl: `${hub.url}/actions/inference`,
          Parameters: { servable: 'test/sum', 'inputs.=': 'values + [extra * 2]', __Private_Parameters: ['inputs'] },
          ResultPath: '$.sum',
          End: true,
        },
      },
    };
    const outcome = await runFlowToCompletion(definition, { values: [1, 2], extra: 5 }, { fetch: recording, pollInitialMs: 50 });
    expect(outcome).toMatchObject({ kind: 'flow_succeeded', output: { sum: { status: 'SUCCEEDED', details: { output: 13 } } } });
    expect(sent).toEqual([{ request_id: expect.any(String), label: 'Sum', body: { servable: 'test/sum', inputs: [1, 2, 10] } }]);
  });

  it('gives paths and expressions a read-only $._context, kept out of the output', async () => {
    const definition: FlowDefinition = {
      StartAt: 'Who',
      States: {
        Who: {
          Type: 'Pass',
          Parameters: { 'run.$': '$._context.run_id', 'user.$': '$._context.username', 'greeting.=': "'hello ' + _context.username" },
          ResultPath: '$.who',
          Next: 'Compute',
        },
        Compute: { Type: 'ExpressionEval', Parameters: { 'doubled.=': 'n * 2', 'label.=': "str(n) + ' items'" }, ResultPath: '$.computed', End: true },
      },
    };
    const outcome = await runFlowToCompletion(definition, { n: 21 }, { context: { username: 'alice@example.org', user_id: 'urn:globus:auth:identity:b8a2f7c4-3d1e-4f5a-9c6b-0e1d2c3b4a59' } });
    expect(outcome.kind).toBe('flow_succeeded');
    const output = (outcome as { output: Record<string, unknown> }).output;
    expect(output.who).toEqual({ run: expect.stringMatching(/^[0-9a-f-]{36}$/), user: 'alice@example.org', greeting: 'hello alice@example.org' });
    expect(output.computed).toEqual({ doubled: 42, label: '21 items' });
    expect(output).not.toHaveProperty('_context');
    // A failing expression is a States.Runtime error of its state.
    const broken = structuredClone(definition);
    (broken.States.Compute as { Parameters: Record<string, unknown> }).Parameters = { 'x.=': 'n / 0' };
    expect(await runFlowToCompletion(broken, { n: 1 }, { context: { username: 'bob' } })).toMatchObject({ kind: 'flow_failed', state: 'Compute', error: 'States.Runtime', cause: expect.stringMatching(/division by zero/) });
  });

  it('refuses to run a definition with a Succeed state', async () => {
    const definition = { StartAt: 'Done', States: { Done: { Type: 'Succeed' } } } as unknown as FlowDefinition;
    await expect(runFlowToCompletion(definition, {})).rejects.toThrow(/Globus Flows has no Succeed state/);
  });

  it('prints JSON lines with --json, before or after the flow command (the global option does not swallow it)', async () => {
    const flowFile = path.join(dir, 'json-flow.json');
    const inputFile = path.join(dir, 'json-input.json');
    writeFileSync(flowFile, JSON.stringify(fixture('digit-in-the-loop.json')));
    writeFileSync(inputFile, JSON.stringify({ image: [[0, 1, 0, 0]] }));
    for (const args of [
      ['flow', 'run', flowFile, '--input', inputFile, '--poll-max', '100', '--json'],
      ['--json', 'flow', 'run', flowFile, '--input', inputFile, '--poll-max', '100'],
    ]) {
      const lines: string[] = [];
      const program = buildCli({ out: (t: string) => lines.push(t), err: (t: string) => lines.push(`ERR ${t}`) }).exitOverride();
      await program.parseAsync(args, { from: 'user' });
      const events = lines.map((line) => JSON.parse(line) as FlowEvent);
      expect(events[0], args.join(' ')).toEqual({ kind: 'state_entered', state: 'Classify', type: 'Action' });
      expect(events.at(-1)?.kind).toBe('flow_succeeded');
    }
    const lines: string[] = [];
    const program = buildCli({ out: (t: string) => lines.push(t), err: (t: string) => lines.push(`ERR ${t}`) }).exitOverride();
    await program.parseAsync(['flow', 'validate', flowFile, '--offline', '--json'], { from: 'user' });
    expect(JSON.parse(lines.join('\n'))).toMatchObject({ valid: true, errors: [] });
  });
});

describe('modelhub flow run: $._context from the signed-in hub', () => {
  it("fills username, user_id and identities from the hub's whoami (a stand-in hub answering whoami as the hub does)", async () => {
    const identities = ['urn:modelhub:user:alice', 'urn:globus:auth:identity:b8a2f7c4-3d1e-4f5a-9c6b-0e1d2c3b4a59'];
    const seen: (string | undefined)[] = [];
    const standIn = createServer((request, response) => {
      seen.push(request.headers.authorization);
      response.setHeader('content-type', 'application/json');
      if (request.url !== '/api/v1/whoami') {
        response.statusCode = 404;
        response.end('{}');
        return;
      }
      response.end(JSON.stringify({ user: 'alice', groups: [], admin: false, identities, token_kind: 'api-token', scopes: ['run'], sign_in: { oidc: false } }));
    });
    await new Promise<void>((resolve) => standIn.listen(0, '127.0.0.1', resolve));
    const previous = { url: process.env.MODELHUB_URL, token: process.env.MODELHUB_TOKEN };
    process.env.MODELHUB_URL = `http://127.0.0.1:${(standIn.address() as AddressInfo).port}`;
    process.env.MODELHUB_TOKEN = 'mh_test-token';
    try {
      const flowFile = path.join(dir, 'context-flow.json');
      writeFileSync(flowFile, JSON.stringify({
        StartAt: 'Who',
        States: { Who: { Type: 'Pass', Parameters: { 'context.$': '$._context' }, ResultPath: '$.who', End: true } },
      }));
      const lines: string[] = [];
      const program = buildCli({ out: (t: string) => lines.push(t), err: (t: string) => lines.push(`ERR ${t}`) }).exitOverride();
      await program.parseAsync(['flow', 'run', flowFile, '--input-json', '{}', '--json'], { from: 'user' });
      const outcome = JSON.parse(lines.at(-1)!) as { kind: string; output: { who: { context: Record<string, unknown> } } };
      expect(outcome.kind).toBe('flow_succeeded');
      expect(outcome.output.who.context).toEqual({
        run_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        username: 'alice',
        user_id: identities[1],
        identities,
      });
      expect(seen).toEqual(['Bearer mh_test-token']);
    } finally {
      for (const [key, value] of [['MODELHUB_URL', previous.url], ['MODELHUB_TOKEN', previous.token]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      await new Promise((resolve) => standIn.close(resolve));
    }
  });
});
