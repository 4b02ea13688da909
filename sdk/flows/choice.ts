/**
 * Choice rules with the comparison operators of the States Language as Globus Flows takes them:
 * String*, Numeric*, Boolean*, Timestamp* (each also as `...Path`), StringMatches, the Is* type
 * tests, and And / Or / Not. A comparison with a value of the wrong type is false, not an error.
 */
import { CHOICE_COMPARISONS, CHOICE_TYPE_TESTS, type ChoiceRule } from './flow-definition.ts';
import { jsonPathProblem, readPath } from './json-path.ts';

const COMPARISONS = new Set<string>(CHOICE_COMPARISONS);
const TYPE_TESTS = new Set<string>(CHOICE_TYPE_TESTS);

const isTimestamp = (value: unknown): value is string =>
  typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value));

/** The operator of a comparison rule, with or without its `Path` suffix. */
function operatorOf(rule: ChoiceRule): { name: string; operand: unknown; viaPath: boolean } | undefined {
  for (const [key, operand] of Object.entries(rule)) {
    if (COMPARISONS.has(key) || TYPE_TESTS.has(key)) return { name: key, operand, viaPath: false };
    if (key.endsWith('Path') && COMPARISONS.has(key.slice(0, -4)) && key !== 'StringMatchesPath') {
      return { name: key.slice(0, -4), operand, viaPath: true };
    }
  }
  return undefined;
}

function compare(op: string, left: unknown, right: unknown): boolean {
  const kind = op.replace(/(Equals|LessThan|GreaterThan|LessThanEquals|GreaterThanEquals|Matches)$/, '');
  const relation = op.slice(kind.length);
  let a: number | string;
  let b: number | string;
  switch (kind) {
    case 'String':
      if (typeof left !== 'string' || typeof right !== 'string') return false;
      if (relation === 'Matches') return globMatch(right, left);
      [a, b] = [left, right];
      break;
    case 'Numeric':
      if (typeof left !== 'number' || typeof right !== 'number') return false;
      [a, b] = [left, right];
      break;
    case 'Boolean':
      return typeof left === 'boolean' && left === right;
    case 'Timestamp':
      if (!isTimestamp(left) || !isTimestamp(right)) return false;
      [a, b] = [Date.parse(left), Date.parse(right)];
      break;
    default:
      return false;
  }
  switch (relation) {
    case 'Equals':
      return a === b;
    case 'LessThan':
      return a < b;
    case 'GreaterThan':
      return a > b;
    case 'LessThanEquals':
      return a <= b;
    case 'GreaterThanEquals':
      return a >= b;
    default:
      return false;
  }
}

/** `*` matches any run of characters; `\*` is a literal star. */
function globMatch(pattern: string, value: string): boolean {
  const source = pattern
    .split(/(?<!\\)\*/)
    .map((part) => part.replace(/\\\*/g, '*').replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 's').test(value);
}

export function evaluateRule(rule: ChoiceRule, data: unknown): boolean {
  if (Array.isArray(rule.And)) return (rule.And as ChoiceRule[]).every((r) => evaluateRule(r, data));
  if (Array.isArray(rule.Or)) return (rule.Or as ChoiceRule[]).some((r) => evaluateRule(r, data));
  if (rule.Not && typeof rule.Not === 'object') return !evaluateRule(rule.Not as ChoiceRule, data);
  const op = operatorOf(rule);
  if (!op) throw new Error(`a Choice rule has no known operator: ${JSON.stringify(rule)}`);
  const variable = readPath(data, String(rule.Variable));
  if (TYPE_TESTS.has(op.name)) {
    const value = variable.value;
    const verdict =
      op.name === 'IsPresent' ? variable.found
      : !variable.found ? false
      : op.name === 'IsNull' ? value === null
      : op.name === 'IsNumeric' ? typeof value === 'number'
      : op.name === 'IsString' ? typeof value === 'string'
      : op.name === 'IsBoolean' ? typeof value === 'boolean'
      : isTimestamp(value);
    return verdict === op.operand;
  }
  if (!variable.found) return false;
  const right = op.viaPath ? readPath(data, String(op.operand)) : { found: true, value: op.operand };
  return right.found && compare(op.name, variable.value, right.value);
}

/** Problems of one rule, for the validator (an empty list when the rule is sound). */
export function ruleProblems(rule: unknown, where: string, top = true): string[] {
  if (!rule || typeof rule !== 'object' || Array.isArray(rule)) return [`${where} is not an object`];
  const r = rule as ChoiceRule;
  const problems: string[] = [];
  if (top && typeof r.Next !== 'string') problems.push(`${where} has no Next`);
  if (!top && r.Next !== undefined) problems.push(`${where}: only top-level Choices may have Next`);
  if ('And' in r || 'Or' in r) {
    const list = (r.And ?? r.Or) as unknown;
    const name = 'And' in r ? 'And' : 'Or';
    if (!Array.isArray(list) || list.length === 0) return [...problems, `${where}.${name} must be a non-empty list of rules`];
    return [...problems, ...list.flatMap((sub, i) => ruleProblems(sub, `${where}.${name}[${i}]`, false))];
  }
  if ('Not' in r) return [...problems, ...ruleProblems(r.Not, `${where}.Not`, false)];
  const op = operatorOf(r);
  if (!op) {
    const keys = Object.keys(r).filter((k) => k !== 'Variable' && k !== 'Next');
    return [...problems, `${where} has no known comparison operator (got ${keys.join(', ') || 'none'})`];
  }
  const variableProblem = jsonPathProblem(r.Variable);
  if (variableProblem) problems.push(`${where}.Variable ${variableProblem}`);
  if (op.viaPath) {
    const operandProblem = jsonPathProblem(op.operand);
    if (operandProblem) problems.push(`${where}.${op.name}Path ${operandProblem}`);
  } else if (TYPE_TESTS.has(op.name) && typeof op.operand !== 'boolean') {
    problems.push(`${where}.${op.name} must be true or false`);
  } else if (op.name.startsWith('Numeric') && typeof op.operand !== 'number') {
    problems.push(`${where}.${op.name} must be a number`);
  } else if (op.name.startsWith('String') && typeof op.operand !== 'string') {
    problems.push(`${where}.${op.name} must be a string`);
  } else if (op.name === 'BooleanEquals' && typeof op.operand !== 'boolean') {
    problems.push(`${where}.BooleanEquals must be true or false`);
  } else if (op.name.startsWith('Timestamp') && !isTimestamp(op.operand)) {
    problems.push(`${where}.${op.name} must be an RFC 3339 timestamp`);
  }
  return problems;
}
