/**
 * Runs a Globus-Flows-style definition here, against any Action Provider URL: an async generator
 * of events (each state entered, each action started, polled and completed, each exception caught)
 * ending with `flow_succeeded` or `flow_failed`.
 */
import { randomUUID } from 'node:crypto';
import type { ActionStatus } from '../../schemas/actions.ts';
import { ActionClient, ActionProviderError, type FetchLike } from './action-client.ts';
import { evaluateRule } from './choice.ts';
import { PRIVATE_PARAMETERS, type ActionState, type ChoiceRule, type FlowDefinition, type FlowRunContext, type FlowState } from './flow-definition.ts';
import { FlowPathError, readPath, resolveParameters, writePath } from './json-path.ts';
import { checkFlowDefinition, FlowDefinitionError } from './validate-flow.ts';
import { sleep } from '../sleep.ts';

export interface RunFlowOptions {
  fetch?: FetchLike;
  /** Bearer token for every Action Provider, or chosen per provider URL. */
  token?: string | ((actionUrl: string) => string | undefined);
  /** First poll delay (default 500 ms), doubled up to `pollMaxMs` (default 10 s). */
  pollInitialMs?: number;
  pollMaxMs?: number;
  /** Guards against a definition that loops forever (default 1000 states). */
  maxSteps?: number;
  /** Release each action once its result is read (default true), as the specification asks. */
  releaseActions?: boolean;
  signal?: AbortSignal;
  /**
   * What `$._context` holds besides a fresh `run_id` (Globus Flows' run context): the invoking
   * user's `username`, `email`, `user_id`, `identities`, and a `flow_id` where the flow has one.
   */
  context?: Partial<FlowRunContext>;
}

export type FlowEvent =
  | { kind: 'state_entered'; state: string; type: FlowState['Type'] }
  | { kind: 'action_started'; state: string; action_url: string; action_id: string; status: ActionStatus['status']; display_status?: string | null }
  | { kind: 'action_polled'; state: string; action_id: string; status: ActionStatus['status']; display_status?: string | null; next_poll_ms: number }
  | { kind: 'action_completed'; state: string; action_id: string; status: ActionStatus['status']; details: unknown }
  | { kind: 'choice_made'; state: string; next: string }
  | { kind: 'waiting'; state: string; seconds: number }
  | { kind: 'exception_caught'; state: string; error: string; cause: string; next: string }
  | { kind: 'flow_succeeded'; output: unknown }
  | { kind: 'flow_failed'; state: string; error: string; cause: string; output: unknown };

export type FlowOutcome = Extract<FlowEvent, { kind: 'flow_succeeded' | 'flow_failed' }>;

/** An error a state raises: its name is what Catch clauses match. */
export class FlowStateError extends Error {
  constructor(
    readonly errorName: string,
    message: string,
    /** What a Catch writes at its ResultPath besides Error and Cause. */
    readonly output?: unknown,
  ) {
    super(message);
    this.name = 'FlowStateError';
  }
}

const DEFAULT_WAIT_TIME_S = 300;

const completed = (status: ActionStatus) => status.status === 'SUCCEEDED' || status.status === 'FAILED';

function failureMessage(status: ActionStatus): string {
  const error = (status.details as { error?: { message?: string } } | undefined)?.error;
  return error?.message ?? status.display_status ?? `the action ended ${status.status}`;
}

/**
 * The state as paths and expressions read it: with the read-only `_context` property. Only reads
 * see it; what states write goes to the state itself, so `_context` is never part of the output.
 */
function withContext(data: unknown, context: FlowRunContext): unknown {
  return data !== null && typeof data === 'object' && !Array.isArray(data) ? { ...(data as object), _context: context } : data;
}

/** Parameters as resolved, without `__Private_Parameters` (a note for the flow, never sent or stored). */
function withoutPrivateNames(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !(PRIVATE_PARAMETERS in value)) return value;
  const { [PRIVATE_PARAMETERS]: _names, ...rest } = value as Record<string, unknown>;
  return rest;
}

export async function* runFlow(
  definition: FlowDefinition,
  input: unknown,
  options: RunFlowOptions = {},
): AsyncGenerator<FlowEvent, FlowOutcome> {
  const problems = checkFlowDefinition(definition);
  if (problems.length > 0) throw new FlowDefinitionError(problems);
  const client = new ActionClient({ fetch: options.fetch, token: options.token });
  const maxSteps = options.maxSteps ?? 1000;
  let data: unknown = input;
  let name = definition.StartAt;
  const context: FlowRunContext = { ...options.context, run_id: options.context?.run_id ?? randomUUID() };
  const view = () => withContext(data, context);

  for (let step = 1; ; step += 1) {
    const state = definition.States[name];
    if (step > maxSteps) {
      const outcome: FlowOutcome = {
        kind: 'flow_failed',
        state: name,
        error: 'States.Runtime',
        cause: `the flow ran more than ${maxSteps} states; is it looping?`,
        output: data,
      };
      yield outcome;
      return outcome;
    }
    yield { kind: 'state_entered', state: name, type: state.Type };
    try {
      switch (state.Type) {
        case 'Action': {
          const status = yield* runAction(name, state, data, context, client, options);
          data = writePath(data, state.ResultPath ?? '$', status);
          break;
        }
        case 'Pass': {
          const selected = state.InputPath && state.InputPath !== '$' ? mustRead(view(), state.InputPath, 'InputPath') : data;
          const value =
            state.Result !== undefined ? state.Result
            : state.Parameters ? withoutPrivateNames(resolveParameters(state.Parameters, withContext(selected, context)))
            : selected;
          data = writePath(data, state.ResultPath ?? '$', value);
          break;
        }
        case 'ExpressionEval': {
          const value = withoutPrivateNames(resolveParameters(state.Parameters, view()));
          data = writePath(data, state.ResultPath ?? '$', value);
          break;
        }
        case 'Choice': {
          const current = view();
          const match = state.Choices.find((rule) => evaluateRule(rule as ChoiceRule, current)) as ChoiceRule | undefined;
          const next = match?.Next ?? state.Default;
          if (!next) throw new FlowStateError('States.NoChoiceMatched', `no Choice of ${name} matched and it has no Default`);
          yield { kind: 'choice_made', state: name, next };
          name = next;
          continue;
        }
        case 'Wait': {
          let seconds = state.Seconds ?? 0;
          if (state.SecondsPath) seconds = Number(mustRead(view(), state.SecondsPath, 'SecondsPath'));
          const timestamp = state.Timestamp ?? (state.TimestampPath ? String(mustRead(view(), state.TimestampPath, 'TimestampPath')) : undefined);
          if (timestamp !== undefined) seconds = Math.max(0, (Date.parse(timestamp) - Date.now()) / 1000);
          if (!Number.isFinite(seconds) || seconds < 0) throw new FlowStateError('States.Runtime', `${name}: cannot wait ${seconds} seconds`);
          yield { kind: 'waiting', state: name, seconds };
          await sleep(seconds * 1000, options.signal);
          break;
        }
        case 'Fail': {
          const error = state.ErrorPath ? String(mustRead(view(), state.ErrorPath, 'ErrorPath')) : state.Error ?? 'States.Fail';
          const cause = state.CausePath ? String(mustRead(view(), state.CausePath, 'CausePath')) : state.Cause ?? '';
          const outcome: FlowOutcome = { kind: 'flow_failed', state: name, error, cause, output: data };
          yield outcome;
          return outcome;
        }
      }
    } catch (thrown) {
      const error =
        thrown instanceof FlowStateError ? thrown
        : thrown instanceof FlowPathError ? new FlowStateError('States.Runtime', `${name}: ${thrown.message}`)
        : new FlowStateError('States.Runtime', `${name}: ${(thrown as Error).message ?? String(thrown)}`);
      const clause =
        state.Type === 'Action'
          ? state.Catch?.find((c) => c.ErrorEquals.includes(error.errorName) || c.ErrorEquals.includes('States.ALL'))
          : undefined;
      if (!clause || options.signal?.aborted) {
        const outcome: FlowOutcome = { kind: 'flow_failed', state: name, error: error.errorName, cause: error.message, output: data };
        yield outcome;
        return outcome;
      }
      const caught = {
        Error: error.errorName,
        Cause: error.message,
        ...(error.output && typeof error.output === 'object' ? (error.output as object) : {}),
      };
      data = writePath(data, clause.ResultPath ?? '$', caught);
      yield { kind: 'exception_caught', state: name, error: error.errorName, cause: error.message, next: clause.Next };
      name = clause.Next;
      continue;
    }
    if ('End' in state && state.End) {
      const outcome: FlowOutcome = { kind: 'flow_succeeded', output: data };
      yield outcome;
      return outcome;
    }
    name = (state as { Next: string }).Next;
  }
}

function mustRead(data: unknown, path: string, field: string): unknown {
  const { found, value } = readPath(data, path);
  if (!found) throw new FlowPathError(`${field} ${path} matched nothing in the flow's data`);
  return value;
}

async function* runAction(
  name: string,
  state: ActionState,
  data: unknown,
  context: FlowRunContext,
  client: ActionClient,
  options: RunFlowOptions,
): AsyncGenerator<FlowEvent, ActionStatus> {
  // Exactly one of them (validated): the body is what InputPath selects, or the Parameters
  // resolved against the state and its `_context`, without `__Private_Parameters`.
  const body = state.Parameters
    ? withoutPrivateNames(resolveParameters(state.Parameters, withContext(data, context)))
    : state.InputPath && state.InputPath !== '$' ? mustRead(withContext(data, context), state.InputPath, 'InputPath')
    : data;
  const url = state.ActionUrl;
  let status: ActionStatus;
  try {
    status = await client.run(url, { request_id: randomUUID(), body, label: name.slice(0, 64) });
  } catch (error) {
    const output = error instanceof ActionProviderError ? error.body : undefined;
    throw new FlowStateError('ActionUnableToRun', `${name}: ${(error as Error).message}`, output);
  }
  yield { kind: 'action_started', state: name, action_url: url, action_id: status.action_id, status: status.status, display_status: status.display_status };

  const waitUntil = Date.now() + (state.WaitTime ?? DEFAULT_WAIT_TIME_S) * 1000;
  let delay = options.pollInitialMs ?? 500;
  let transientFailures = 0;
  while (!completed(status)) {
    const left = waitUntil - Date.now();
    if (left <= 0) {
      await client.cancel(url, status.action_id).catch(() => undefined);
      throw new FlowStateError('ActionTimeout', `${name}: the action did not complete within ${state.WaitTime ?? DEFAULT_WAIT_TIME_S} s`, status);
    }
    await sleep(Math.min(delay, left), options.signal);
    delay = Math.min(delay * 2, options.pollMaxMs ?? 10_000);
    try {
      status = await client.status(url, status.action_id);
      transientFailures = 0;
    } catch (error) {
      // A provider restarting answers 5xx or nothing for a moment: keep polling a few times.
      const transient = !(error instanceof ActionProviderError) || error.status >= 500;
      if (!transient || (transientFailures += 1) > 5) {
        throw new FlowStateError('ActionUnableToRun', `${name}: polling failed: ${(error as Error).message}`);
      }
      continue;
    }
    yield { kind: 'action_polled', state: name, action_id: status.action_id, status: status.status, display_status: status.display_status, next_poll_ms: delay };
  }
  yield { kind: 'action_completed', state: name, action_id: status.action_id, status: status.status, details: status.details };
  if (options.releaseActions ?? true) await client.release(url, status.action_id).catch(() => undefined);
  if (status.status === 'FAILED' && (state.ExceptionOnActionFailure ?? true)) {
    throw new FlowStateError('ActionFailedException', `${name}: ${failureMessage(status)}`, status);
  }
  return status;
}

/** Runs a flow to its end; the events are handed to `onEvent` as they happen. */
export async function runFlowToCompletion(
  definition: FlowDefinition,
  input: unknown,
  options: RunFlowOptions & { onEvent?: (event: FlowEvent) => void } = {},
): Promise<FlowOutcome> {
  const events = runFlow(definition, input, options);
  for (;;) {
    const next = await events.next();
    if (next.done) return next.value;
    options.onEvent?.(next.value);
  }
}
