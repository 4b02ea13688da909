/**
 * validateFlow: structural problems named by state, and provider checks against the real
 * introspection of the actions plugin (bare fastify over HTTP).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlowDefinition } from '../../sdk/flows/flow-definition.ts';
import { runFlow } from '../../sdk/flows/run-flow.ts';
import { checkFlowDefinition, FlowDefinitionError, validateFlow } from '../../sdk/flows/validate-flow.ts';
import { startActionsTestApp, type ActionsTestApp } from '../fixtures/flows/actions-test-app.ts';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/flows');
let dir: string;
let hub: ActionsTestApp;

const fixture = (name: string) =>
  JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8').replaceAll('http://127.0.0.1:8700', hub.url)) as FlowDefinition;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'modelhub-flow-validate-'));
  hub = await startActionsTestApp(dir, { listen: true });
});
afterAll(async () => {
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('structure', () => {
  it('names the state of every problem', () => {
    const messages = checkFlowDefinition(fixture('broken.json')).map((p) => `${p.state}: ${p.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^First: Parameters\.inputs\.\$ is not a valid JSONPath: .*unclosed "\["/),
        expect.stringMatching(/^First: Next "Missing" is not a state of this flow/),
        expect.stringMatching(/^Second: unknown state Type "Teleport"/),
        expect.stringMatching(/^Third: Choices\[0\] has no known comparison operator \(got NumericRoughly\)/),
      ]),
    );
  });

  it('checks StartAt, End/Next, Catch, ResultPath, Wait and Fail fields', () => {
    const problems = checkFlowDefinition({
      StartAt: 'Nowhere',
      States: {
        A: {
          Type: 'Action',
          ActionUrl: 'not a url',
          ResultPath: '$..everything',
          Catch: [{ ErrorEquals: ['Oops'], Next: 'B' }],
          Next: 'B',
          End: true,
        },
        B: { Type: 'Wait', Seconds: 1, SecondsPath: '$.s', Next: 'C' },
        C: { Type: 'Fail', ErrorPath: 'error', Next: 'A' },
        D: { Type: 'Pass' },
      },
    }).map((p) => `${p.state ?? '-'}: ${p.message}`);
    expect(problems).toEqual(
      expect.arrayContaining([
        '-: StartAt names "Nowhere", which is not a state',
        expect.stringMatching(/^A: ActionUrl "not a url" is not an absolute URL/),
        expect.stringMatching(/^A: ResultPath "\$\.\.everything" must name one place/),
        expect.stringMatching(/^A: Catch\[0\]\.ErrorEquals has unknown error "Oops"/),
        'A: has both Next and End',
        'B: needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath',
        expect.stringMatching(/^C: Fail states have no field "Next"/),
        expect.stringMatching(/^C: ErrorPath is not a valid JSONPath: "error" must start with "\$"/),
        'D: Next must name a state',
      ]),
    );
  });

  it('refuses to run an invalid definition', async () => {
    await expect(runFlow(fixture('broken.json'), {}).next()).rejects.toThrow(FlowDefinitionError);
  });

  it('accepts the example flows, warning about unreachable states', async () => {
    expect(checkFlowDefinition(fixture('digit-in-the-loop.json'))).toEqual([]);
    const withOrphan = fixture('caught-failure.json');
    withOrphan.States.Orphan = { Type: 'Pass', End: true };
    const result = await validateFlow(withOrphan);
    expect(result).toMatchObject({ valid: true, errors: [], warnings: [{ state: 'Orphan' }] });
  });
});

describe('providers', () => {
  it("accepts Parameters that fit each provider's input_schema", async () => {
    const result = await validateFlow(fixture('digit-in-the-loop.json'), { fetch });
    expect(result.errors).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('checks constant Parameters against the servable schema, and names of referenced ones', async () => {
    const definition: FlowDefinition = {
      StartAt: 'Classify',
      States: {
        Classify: {
          Type: 'Action',
          ActionUrl: `${hub.url}/actions/servables/test/digit`,
          Parameters: { inputs: [[0.1, 0.2, 0.3]] },
          Next: 'Again',
        },
        Again: {
          Type: 'Action',
          ActionUrl: `${hub.url}/actions/servables/test/digit`,
          Parameters: { 'input.$': '$.image' },
          Next: 'Elsewhere',
        },
        Elsewhere: { Type: 'Action', ActionUrl: 'http://127.0.0.1:9/actions/none', Parameters: {}, End: true },
      },
    };
    const result = await validateFlow(definition, { fetch });
    expect(result.valid).toBe(false);
    const messages = result.errors.map((p) => `${p.state}: ${p.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Classify: Parameters\.inputs\.0 must NOT have fewer than 4 items/),
        'Again: Parameters lack "inputs", which the provider\'s input_schema requires',
        'Again: Parameters have "input", which the provider\'s input_schema does not allow',
        expect.stringMatching(/^Elsewhere: cannot introspect the provider at http:\/\/127\.0\.0\.1:9\/actions\/none/),
      ]),
    );
  });
});

describe('the Globus Flows language (issue 19)', () => {
  const action = (extra: Record<string, unknown>) => ({ Type: 'Action', ActionUrl: 'http://127.0.0.1:9/actions/x', End: true, ...extra });
  const problemsOf = (states: Record<string, unknown>) =>
    checkFlowDefinition({ StartAt: Object.keys(states)[0], States: states }).map((p) => `${p.state}: ${p.message}`);

  it('refuses Succeed (and the other States Language types Globus Flows lacks), naming the way to end', () => {
    expect(problemsOf({ A: { Type: 'Pass', Next: 'B' }, B: { Type: 'Succeed' } })).toEqual([
      expect.stringMatching(/^B: unknown state Type "Succeed": Globus Flows has no Succeed state: end the flow with "End": true/),
    ]);
    for (const type of ['Parallel', 'Map', 'Task']) expect(problemsOf({ A: { Type: type, End: true } })[0]).toMatch(`unknown state Type "${type}"`);
    expect(problemsOf({ A: { Type: 'ExpressionEval', Parameters: { 'x.=': '1 + 1' }, ResultPath: '$.x', End: true } })).toEqual([]);
    expect(problemsOf({ A: { Type: 'ExpressionEval', End: true } })).toEqual(['A: ExpressionEval states need Parameters (an object)']);
  });

  it('wants exactly one of InputPath and Parameters in an Action', () => {
    expect(problemsOf({ A: action({}) })).toEqual(['A: needs InputPath or Parameters (the body sent to the action)']);
    expect(problemsOf({ A: action({ InputPath: '$.in', Parameters: { x: 1 } }) })).toEqual([
      'A: has both InputPath and Parameters; Globus Flows takes exactly one',
    ]);
    expect(problemsOf({ A: action({ InputPath: '$.in' }) })).toEqual([]);
    expect(problemsOf({ A: action({ Parameters: { x: 1 } }) })).toEqual([]);
  });

  it('checks `.=` expressions, __Private_Parameters and a ResultPath into the read-only $._context', () => {
    expect(problemsOf({ A: action({ Parameters: { 'total.=': 'a +', nested: { 'b.=': "open('x')" } } }) })).toEqual([
      expect.stringMatching(/^A: Parameters\.total\.= is not an expression this runner evaluates: the expression ends too early/),
      expect.stringMatching(/^A: Parameters\.nested\.b\.= is not an expression this runner evaluates: unknown function "open"/),
    ]);
    expect(problemsOf({ A: action({ Parameters: { secret: 's', __Private_Parameters: 'secret' } }) })).toEqual([
      'A: Parameters.__Private_Parameters must be a list of parameter names',
    ]);
    expect(problemsOf({ A: action({ Parameters: { secret: 's', __Private_Parameters: ['secret'] } }) })).toEqual([]);
    expect(problemsOf({ A: { Type: 'Pass', Result: 1, ResultPath: '$._context.run_id', End: true } })).toEqual([
      'A: ResultPath may not write $._context: the run context is read-only',
    ]);
  });

  it("checks the provider's input_schema against Parameters as sent: without __Private_Parameters, expressions by name", async () => {
    const definition = {
      StartAt: 'Sum',
      States: {
        Sum: {
          Type: 'Action',
          ActionUrl: `${hub.url}/actions/inference`,
          Parameters: { servable: 'test/sum', 'inputs.=': 'values + [1]', __Private_Parameters: ['inputs'] },
          End: true,
        },
      },
    };
    expect(await validateFlow(definition, { fetch })).toMatchObject({ valid: true, errors: [] });
    const misnamed = structuredClone(definition);
    misnamed.States.Sum.Parameters = { servable: 'test/sum', 'input.=': 'values', __Private_Parameters: [] } as never;
    const result = await validateFlow(misnamed, { fetch });
    expect(result.errors.map((e) => e.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/lack "inputs"/), expect.stringMatching(/have "input"/)]),
    );
  });
});
