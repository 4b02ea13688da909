/** Flows: run and validate Globus-Flows-style definitions against Action Providers. */
export { ActionClient, ActionProviderError, type ActionClientOptions, type FetchLike } from './action-client.ts';
export { evaluateRule } from './choice.ts';
export {
  FlowDefinition,
  FlowState,
  ActionState,
  PassState,
  ChoiceState,
  WaitState,
  FailState,
  ExpressionEvalState,
  PRIVATE_PARAMETERS,
  type FlowRunContext,
  CatchClause,
  STATE_TYPES,
  FLOW_ERRORS,
  CHOICE_COMPARISONS,
  CHOICE_TYPE_TESTS,
  type ChoiceRule,
} from './flow-definition.ts';
export { registerFlowCommands, formatFlowEvent } from './flow-commands.ts';
export { FlowPathError, jsonPathProblem, readPath, writePath, resolveParameters } from './json-path.ts';
export { evaluateExpression, expressionProblem, FlowExpressionError, EXPRESSION_FUNCTIONS } from './expression.ts';
export { runFlow, runFlowToCompletion, FlowStateError, type FlowEvent, type FlowOutcome, type RunFlowOptions } from './run-flow.ts';
export {
  checkFlowDefinition,
  validateFlow,
  FlowDefinitionError,
  formatProblem,
  type FlowProblem,
  type FlowValidation,
  type ValidateFlowOptions,
} from './validate-flow.ts';
