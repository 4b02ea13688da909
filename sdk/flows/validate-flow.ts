/**
 * Checks a flow definition before it runs, each problem naming its state: state types Globus Flows
 * does not have (Succeed among them), missing or dangling Next targets, broken JSONPaths and `.=`
 * expressions, an Action without exactly one of InputPath and Parameters, malformed Choice rules
 * and Catch clauses;
 * then, optionally, each Action's provider: its introspection answers, and constant Parameters fit
 * its `input_schema`.
 */
import type { Ajv } from 'ajv';
import { createAjv } from '../../schemas/validate.ts';
import { ActionClient, type FetchLike } from './action-client.ts';
import { ruleProblems } from './choice.ts';
import { expressionProblem } from './expression.ts';
import { FLOW_ERRORS, PRIVATE_PARAMETERS, STATE_TYPES, type FlowDefinition } from './flow-definition.ts';
import { isDefinitePath, jsonPathProblem, parameterExpressions, parameterPaths } from './json-path.ts';

export interface FlowProblem {
  /** The state the problem is in; absent for the definition as a whole. */
  state?: string;
  message: string;
}

export interface FlowValidation {
  valid: boolean;
  errors: FlowProblem[];
  warnings: FlowProblem[];
}

export class FlowDefinitionError extends Error {
  constructor(readonly problems: FlowProblem[]) {
    super(`the flow definition is invalid:\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'FlowDefinitionError';
  }
}

export const formatProblem = (problem: FlowProblem): string =>
  problem.state === undefined ? `- ${problem.message}` : `- state "${problem.state}": ${problem.message}`;

const KNOWN_FIELDS: Record<string, string[]> = {
  Action: ['Type', 'Comment', 'Next', 'End', 'ActionUrl', 'ActionScope', 'InputPath', 'Parameters', 'ResultPath', 'WaitTime', 'ExceptionOnActionFailure', 'RunAs', 'Catch'],
  Pass: ['Type', 'Comment', 'Next', 'End', 'InputPath', 'Parameters', 'Result', 'ResultPath'],
  Choice: ['Type', 'Comment', 'Choices', 'Default'],
  Wait: ['Type', 'Comment', 'Next', 'End', 'Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'],
  Fail: ['Type', 'Comment', 'Error', 'Cause', 'ErrorPath', 'CausePath'],
  ExpressionEval: ['Type', 'Comment', 'Next', 'End', 'Parameters', 'ResultPath'],
};

/** States Language types Globus Flows does not have, with what to write instead. */
const NOT_IN_GLOBUS_FLOWS: Record<string, string> = {
  Succeed: 'Globus Flows has no Succeed state: end the flow with "End": true on the last state',
  Parallel: 'Globus Flows has no Parallel state',
  Map: 'Globus Flows has no Map state',
  Task: 'Globus Flows runs work in Action states, not Task',
};

/** The structural problems of a definition (no network). An empty list: it may run. */
export function checkFlowDefinition(definition: unknown): FlowProblem[] {
  const problems: FlowProblem[] = [];
  if (!definition || typeof definition !== 'object' || Array.isArray(definition)) {
    return [{ message: 'the definition must be a JSON object with StartAt and States' }];
  }
  const def = definition as Record<string, unknown>;
  const states = def.States;
  if (!states || typeof states !== 'object' || Array.isArray(states) || Object.keys(states).length === 0) {
    return [{ message: 'States must be an object with at least one state' }];
  }
  const names = new Set(Object.keys(states));
  if (typeof def.StartAt !== 'string') problems.push({ message: 'StartAt must name a state' });
  else if (!names.has(def.StartAt)) problems.push({ message: `StartAt names "${def.StartAt}", which is not a state` });

  const target = (state: string, field: string, next: unknown) => {
    if (typeof next !== 'string') problems.push({ state, message: `${field} must name a state` });
    else if (!names.has(next)) problems.push({ state, message: `${field} "${next}" is not a state of this flow` });
  };
  const path = (state: string, field: string, value: unknown, definite = false) => {
    if (value === undefined) return;
    const problem = jsonPathProblem(value);
    if (problem) problems.push({ state, message: `${field} is not a valid JSONPath: ${problem}` });
    else if (definite && !isDefinitePath(String(value))) {
      problems.push({ state, message: `${field} "${String(value)}" must name one place (no wildcards, filters or ..)` });
    }
  };

  for (const [name, raw] of Object.entries(states as Record<string, unknown>)) {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push({ state: name, message: 'is not an object' });
      continue;
    }
    const state = raw as Record<string, unknown>;
    const type = state.Type;
    if (typeof type !== 'string' || !(STATE_TYPES as readonly string[]).includes(type)) {
      const hint = typeof type === 'string' && Object.hasOwn(NOT_IN_GLOBUS_FLOWS, type) ? `: ${NOT_IN_GLOBUS_FLOWS[type]}` : '';
      problems.push({
        state: name,
        message: `unknown state Type ${JSON.stringify(type)}${hint}; Globus Flows has ${STATE_TYPES.join(', ')}`,
      });
      continue;
    }
    for (const field of Object.keys(state)) {
      if (!KNOWN_FIELDS[type].includes(field)) {
        problems.push({ state: name, message: `${type} states have no field "${field}"` });
      }
    }
    if (type === 'Action' || type === 'Pass' || type === 'Wait' || type === 'ExpressionEval') {
      if (state.End === true && state.Next !== undefined) problems.push({ state: name, message: 'has both Next and End' });
      else if (state.End !== true) target(name, 'Next', state.Next);
      path(name, 'InputPath', state.InputPath);
      path(name, 'ResultPath', state.ResultPath, true);
      if (typeof state.ResultPath === 'string' && /^\$(\.|\[['"])_context\b/.test(state.ResultPath)) {
        problems.push({ state: name, message: 'ResultPath may not write $._context: the run context is read-only' });
      }
      for (const ref of parameterPaths(state.Parameters)) {
        const problem = jsonPathProblem(ref.path);
        if (problem) problems.push({ state: name, message: `${ref.where} is not a valid JSONPath: ${problem}` });
      }
      for (const ref of parameterExpressions(state.Parameters)) {
        const problem = expressionProblem(ref.expression);
        if (problem) problems.push({ state: name, message: `${ref.where} is not an expression this runner evaluates: ${problem}` });
      }
      const privateNames = (state.Parameters as Record<string, unknown> | undefined)?.[PRIVATE_PARAMETERS];
      if (privateNames !== undefined && !(Array.isArray(privateNames) && privateNames.every((n) => typeof n === 'string'))) {
        problems.push({ state: name, message: `Parameters.${PRIVATE_PARAMETERS} must be a list of parameter names` });
      }
    }
    if (type === 'ExpressionEval' && (!state.Parameters || typeof state.Parameters !== 'object' || Array.isArray(state.Parameters))) {
      problems.push({ state: name, message: 'ExpressionEval states need Parameters (an object)' });
    }
    if (type === 'Action') {
      // Globus Flows: an Action's body comes from exactly one of them.
      const sources = ['InputPath', 'Parameters'].filter((field) => state[field] !== undefined);
      if (sources.length !== 1) {
        problems.push({
          state: name,
          message: sources.length === 0 ? 'needs InputPath or Parameters (the body sent to the action)' : 'has both InputPath and Parameters; Globus Flows takes exactly one',
        });
      }
      let url: URL | undefined;
      try {
        url = new URL(String(state.ActionUrl));
      } catch {
        problems.push({ state: name, message: `ActionUrl ${JSON.stringify(state.ActionUrl)} is not an absolute URL` });
      }
      if (url && url.protocol !== 'http:' && url.protocol !== 'https:') {
        problems.push({ state: name, message: `ActionUrl must be http or https, not ${url.protocol}` });
      }
      if (state.WaitTime !== undefined && !(typeof state.WaitTime === 'number' && state.WaitTime > 0)) {
        problems.push({ state: name, message: 'WaitTime must be a positive number of seconds' });
      }
      if (state.ExceptionOnActionFailure !== undefined && typeof state.ExceptionOnActionFailure !== 'boolean') {
        problems.push({ state: name, message: 'ExceptionOnActionFailure must be true or false' });
      }
      if (state.Parameters !== undefined && (typeof state.Parameters !== 'object' || Array.isArray(state.Parameters))) {
        problems.push({ state: name, message: 'Parameters must be an object' });
      }
      if (state.Catch !== undefined) {
        if (!Array.isArray(state.Catch)) problems.push({ state: name, message: 'Catch must be a list' });
        else {
          state.Catch.forEach((clause: unknown, i: number) => {
            const c = clause as Record<string, unknown>;
            if (!Array.isArray(c?.ErrorEquals) || c.ErrorEquals.length === 0) {
              problems.push({ state: name, message: `Catch[${i}].ErrorEquals must be a non-empty list` });
            } else {
              for (const error of c.ErrorEquals) {
                if (!(FLOW_ERRORS as readonly string[]).includes(String(error))) {
                  problems.push({ state: name, message: `Catch[${i}].ErrorEquals has unknown error "${String(error)}" (known: ${FLOW_ERRORS.join(', ')})` });
                }
              }
            }
            target(name, `Catch[${i}].Next`, c?.Next);
            path(name, `Catch[${i}].ResultPath`, c?.ResultPath, true);
          });
        }
      }
    }
    if (type === 'Choice') {
      if (!Array.isArray(state.Choices) || state.Choices.length === 0) {
        problems.push({ state: name, message: 'Choices must be a non-empty list' });
      } else {
        state.Choices.forEach((rule: unknown, i: number) => {
          for (const message of ruleProblems(rule, `Choices[${i}]`)) problems.push({ state: name, message });
          const next = (rule as { Next?: unknown })?.Next;
          if (typeof next === 'string' && !names.has(next)) {
            problems.push({ state: name, message: `Choices[${i}].Next "${next}" is not a state of this flow` });
          }
        });
      }
      if (state.Default !== undefined) target(name, 'Default', state.Default);
    }
    if (type === 'Wait') {
      const ways = ['Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath'].filter((f) => state[f] !== undefined);
      if (ways.length !== 1) problems.push({ state: name, message: 'needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath' });
      path(name, 'SecondsPath', state.SecondsPath);
      path(name, 'TimestampPath', state.TimestampPath);
    }
    if (type === 'Fail') {
      path(name, 'ErrorPath', state.ErrorPath);
      path(name, 'CausePath', state.CausePath);
    }
  }
  return problems;
}

/** States no path from StartAt reaches: not wrong, but most likely a mistake. */
function unreachable(definition: FlowDefinition): string[] {
  const seen = new Set<string>();
  const queue = [definition.StartAt];
  while (queue.length > 0) {
    const name = queue.pop() as string;
    if (seen.has(name) || !definition.States[name]) continue;
    seen.add(name);
    const state = definition.States[name] as Record<string, unknown>;
    if (typeof state.Next === 'string') queue.push(state.Next);
    if (typeof state.Default === 'string') queue.push(state.Default);
    for (const rule of (state.Choices as { Next?: string }[] | undefined) ?? []) if (rule.Next) queue.push(rule.Next);
    for (const clause of (state.Catch as { Next?: string }[] | undefined) ?? []) if (clause.Next) queue.push(clause.Next);
  }
  return Object.keys(definition.States).filter((name) => !seen.has(name));
}

export interface ValidateFlowOptions {
  /** Given: each Action's provider is introspected and constant Parameters are checked. */
  fetch?: FetchLike;
  token?: string | ((actionUrl: string) => string | undefined);
}

export async function validateFlow(definition: unknown, options: ValidateFlowOptions = {}): Promise<FlowValidation> {
  const errors = checkFlowDefinition(definition);
  if (errors.length > 0) return { valid: false, errors, warnings: [] };
  const def = definition as FlowDefinition;
  const warnings: FlowProblem[] = unreachable(def).map((state) => ({ state, message: 'no path from StartAt reaches it' }));
  if (options.fetch) {
    const client = new ActionClient({ fetch: options.fetch, token: options.token });
    const ajv = createAjv({ allErrors: true, strict: false });
    for (const [name, state] of Object.entries(def.States)) {
      if (state.Type !== 'Action') continue;
      let schema: Record<string, unknown> | undefined;
      try {
        schema = (await client.introspect(state.ActionUrl)).input_schema;
      } catch (error) {
        errors.push({ state: name, message: `cannot introspect the provider at ${state.ActionUrl}: ${(error as Error).message}` });
        continue;
      }
      if (!schema || state.Parameters === undefined || state.InputPath !== undefined) continue;
      errors.push(...parameterProblems(ajv, schema, state.Parameters).map((message) => ({ state: name, message })));
    }
  }
  return { valid: errors.length === 0, errors, warnings };
}

/**
 * Parameters against the provider's input_schema, as they will be sent (without
 * `__Private_Parameters`). Fully constant Parameters are validated whole; with `.$` references or
 * `.=` expressions only what is known before the run is checked: the top-level names.
 */
function parameterProblems(ajv: Ajv, schema: Record<string, unknown>, template: Record<string, unknown>): string[] {
  const { [PRIVATE_PARAMETERS]: _private, ...parameters } = template;
  if (parameterPaths(parameters).length === 0 && parameterExpressions(parameters).length === 0) {
    let validate;
    try {
      validate = ajv.compile(schema);
    } catch (error) {
      return [`the provider's input_schema cannot be compiled: ${(error as Error).message}`];
    }
    if (validate(parameters)) return [];
    return (validate.errors ?? []).slice(0, 10).map(
      (e) => `Parameters${e.instancePath.replace(/\//g, '.')} ${e.message ?? 'is invalid'} (the provider's input_schema)`,
    );
  }
  const given = Object.keys(parameters).map((key) => key.replace(/\.[$=]$/, ''));
  const problems: string[] = [];
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  for (const key of required) if (!given.includes(key)) problems.push(`Parameters lack "${key}", which the provider's input_schema requires`);
  const properties = schema.properties as Record<string, unknown> | undefined;
  if (schema.additionalProperties === false && properties) {
    for (const key of given) if (!(key in properties)) problems.push(`Parameters have "${key}", which the provider's input_schema does not allow`);
  }
  return problems;
}
