/**
 * Globus-Flows-style definitions (the Amazon States Language as Globus Flows uses it): the state
 * types Globus Flows has, as TypeBox schemas that give the TypeScript types. The validator
 * (validate-flow.ts) checks definitions by hand so that every message can name its state.
 */
import { Type, type Static } from '@sinclair/typebox';

const Common = {
  Comment: Type.Optional(Type.String()),
  Next: Type.Optional(Type.String()),
  End: Type.Optional(Type.Boolean()),
};

export const CatchClause = Type.Object({
  ErrorEquals: Type.Array(Type.String(), { minItems: 1 }),
  Next: Type.String(),
  ResultPath: Type.Optional(Type.String()),
});
export type CatchClause = Static<typeof CatchClause>;

export const ActionState = Type.Object({
  Type: Type.Literal('Action'),
  ActionUrl: Type.String({ format: 'uri' }),
  ActionScope: Type.Optional(Type.String()),
  InputPath: Type.Optional(Type.String()),
  Parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  ResultPath: Type.Optional(Type.String()),
  /** Seconds to wait for the action to complete (default 300): then ActionTimeout. */
  WaitTime: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  /** Whether a FAILED action raises ActionFailedException (default true). */
  ExceptionOnActionFailure: Type.Optional(Type.Boolean()),
  RunAs: Type.Optional(Type.String()),
  Catch: Type.Optional(Type.Array(CatchClause)),
  ...Common,
});
export type ActionState = Static<typeof ActionState>;

export const PassState = Type.Object({
  Type: Type.Literal('Pass'),
  InputPath: Type.Optional(Type.String()),
  Parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  Result: Type.Optional(Type.Unknown()),
  ResultPath: Type.Optional(Type.String()),
  ...Common,
});
export type PassState = Static<typeof PassState>;

/** One rule of a Choice: a comparison on `Variable`, or And / Or / Not of further rules. */
export type ChoiceRule = Record<string, unknown> & { Next?: string };

export const ChoiceState = Type.Object({
  Type: Type.Literal('Choice'),
  Choices: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1 }),
  Default: Type.Optional(Type.String()),
  Comment: Type.Optional(Type.String()),
});
export type ChoiceState = Static<typeof ChoiceState>;

export const WaitState = Type.Object({
  Type: Type.Literal('Wait'),
  Seconds: Type.Optional(Type.Number({ minimum: 0 })),
  SecondsPath: Type.Optional(Type.String()),
  Timestamp: Type.Optional(Type.String({ format: 'date-time' })),
  TimestampPath: Type.Optional(Type.String()),
  ...Common,
});
export type WaitState = Static<typeof WaitState>;

export const FailState = Type.Object({
  Type: Type.Literal('Fail'),
  Error: Type.Optional(Type.String()),
  Cause: Type.Optional(Type.String()),
  ErrorPath: Type.Optional(Type.String()),
  CausePath: Type.Optional(Type.String()),
  Comment: Type.Optional(Type.String()),
});
export type FailState = Static<typeof FailState>;

/** Globus Flows' own state: Parameters (with `.$` references and `.=` expressions) written at ResultPath. */
export const ExpressionEvalState = Type.Object({
  Type: Type.Literal('ExpressionEval'),
  Parameters: Type.Record(Type.String(), Type.Unknown()),
  ResultPath: Type.Optional(Type.String()),
  ...Common,
});
export type ExpressionEvalState = Static<typeof ExpressionEvalState>;

export const FlowState = Type.Union([ActionState, PassState, ChoiceState, WaitState, FailState, ExpressionEvalState]);
export type FlowState = Static<typeof FlowState>;

export const FlowDefinition = Type.Object(
  {
    Comment: Type.Optional(Type.String()),
    StartAt: Type.String({ minLength: 1 }),
    States: Type.Record(Type.String(), FlowState),
  },
  { $id: 'FlowDefinition' },
);
export type FlowDefinition = Static<typeof FlowDefinition>;

/**
 * The state types of Globus Flows (docs.globus.org, Authoring Flows): the States Language's Pass,
 * Choice, Wait and Fail, and Globus' Action and ExpressionEval. Succeed, Parallel, Map and Task are
 * not among them (a flow ends with `End: true`), so a definition using them is refused, as Globus
 * would refuse it.
 */
export const STATE_TYPES = ['Action', 'Pass', 'Choice', 'Wait', 'Fail', 'ExpressionEval'] as const;

/** The Parameters key listing parameters to keep out of logs; never sent to the action. */
export const PRIVATE_PARAMETERS = '__Private_Parameters';

/** What `$._context` holds while a flow runs (Globus Flows' run context, what applies here). */
export interface FlowRunContext {
  /** A new UUID for every run. */
  run_id: string;
  flow_id?: string;
  username?: string;
  email?: string;
  /** The invoking user's identity URN. */
  user_id?: string;
  identities?: string[];
}

/** Errors a Catch can name; `States.ALL` catches every one. */
export const FLOW_ERRORS = [
  'ActionUnableToRun',
  'ActionFailedException',
  'ActionTimeout',
  'States.ALL',
  'States.Runtime',
] as const;

/** Comparison operators of Choice rules (with their `...Path` forms where the language has them). */
export const CHOICE_COMPARISONS = [
  'StringEquals', 'StringLessThan', 'StringGreaterThan', 'StringLessThanEquals', 'StringGreaterThanEquals',
  'StringMatches',
  'NumericEquals', 'NumericLessThan', 'NumericGreaterThan', 'NumericLessThanEquals', 'NumericGreaterThanEquals',
  'BooleanEquals',
  'TimestampEquals', 'TimestampLessThan', 'TimestampGreaterThan', 'TimestampLessThanEquals',
  'TimestampGreaterThanEquals',
] as const;
export const CHOICE_TYPE_TESTS = ['IsNull', 'IsPresent', 'IsNumeric', 'IsString', 'IsBoolean', 'IsTimestamp'] as const;
