/**
 * Globus Flows expressions: a Parameters key ending in `.=` holds an expression computed from the
 * flow's state (`"total.=": "count + 1"`, `"label.=": "name + ' ' + obj.field"`). Globus
 * documents an expression language like Python's: names are the state's top-level properties,
 * with `.field` and `[index]` into objects and lists; numbers, quoted strings, lists; arithmetic,
 * `+` joining strings and lists, comparisons, `and`/`or`/`not`, `in`; and a few functions.
 *
 * This is a small parser and evaluator of that language (never `eval`): a definition is checked
 * at validate time (syntax and function names), evaluated when the state runs. Supported
 * functions: len, str, int, float, bool, abs, min, max, round, sum.
 */

export class FlowExpressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlowExpressionError';
  }
}

type Node =
  | { kind: 'literal'; value: unknown }
  | { kind: 'name'; name: string }
  | { kind: 'list'; items: Node[] }
  | { kind: 'member'; target: Node; key: Node }
  | { kind: 'call'; name: string; args: Node[] }
  | { kind: 'unary'; op: '-' | '+' | 'not'; operand: Node }
  | { kind: 'binary'; op: string; left: Node; right: Node }
  | { kind: 'compare'; ops: string[]; operands: Node[] }
  | { kind: 'logical'; op: 'and' | 'or'; left: Node; right: Node };

interface Token {
  type: 'number' | 'string' | 'name' | 'op' | 'end';
  value: string;
  at: number;
}

const FUNCTIONS: Record<string, (args: unknown[]) => unknown> = {
  len: ([value]) => {
    if (typeof value === 'string' || Array.isArray(value)) return value.length;
    if (isObject(value)) return Object.keys(value).length;
    throw new FlowExpressionError(`len() of ${typeName(value)}`);
  },
  str: ([value]) => (typeof value === 'string' ? value : value === null ? 'None' : typeof value === 'boolean' ? (value ? 'True' : 'False') : typeof value === 'number' ? String(value) : JSON.stringify(value)),
  int: ([value]) => {
    const number = typeof value === 'string' ? Number(value.trim()) : Number(value);
    if (typeof value === 'string' && !/^[+-]?\d+$/.test(value.trim())) throw new FlowExpressionError(`int() of "${value}"`);
    if (!Number.isFinite(number) || (typeof value !== 'number' && typeof value !== 'string' && typeof value !== 'boolean')) throw new FlowExpressionError(`int() of ${typeName(value)}`);
    return Math.trunc(number);
  },
  float: ([value]) => {
    const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : typeof value === 'number' || typeof value === 'boolean' ? Number(value) : NaN;
    if (Number.isNaN(number)) throw new FlowExpressionError(`float() of ${typeof value === 'string' ? `"${value}"` : typeName(value)}`);
    return number;
  },
  bool: ([value]) => truthy(value),
  abs: ([value]) => Math.abs(number(value, 'abs()')),
  min: (args) => extreme(args, 'min', (a, b) => a < b),
  max: (args) => extreme(args, 'max', (a, b) => a > b),
  round: ([value, digits]) => {
    const factor = 10 ** (digits === undefined ? 0 : number(digits, 'round()'));
    const scaled = number(value, 'round()') * factor;
    // Python rounds halves to even.
    const floor = Math.floor(scaled);
    const diff = scaled - floor;
    const rounded = diff > 0.5 || (diff === 0.5 && floor % 2 !== 0) ? floor + 1 : floor;
    return rounded / factor;
  },
  sum: ([values]) => {
    if (!Array.isArray(values)) throw new FlowExpressionError(`sum() of ${typeName(values)}`);
    return values.reduce((total: number, item) => total + number(item, 'sum()'), 0);
  },
};

export const EXPRESSION_FUNCTIONS = Object.keys(FUNCTIONS);

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

function typeName(value: unknown): string {
  if (value === null) return 'None';
  if (Array.isArray(value)) return 'a list';
  if (isObject(value)) return 'an object';
  return `a ${typeof value}`;
}

function number(value: unknown, what: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  throw new FlowExpressionError(`${what} needs a number, not ${typeName(value)}`);
}

function extreme(args: unknown[], name: string, better: (a: never, b: never) => boolean): unknown {
  const values = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
  if (values.length === 0) throw new FlowExpressionError(`${name}() of nothing`);
  return values.reduce((best, value) => {
    if (typeof best !== typeof value || (typeof value !== 'number' && typeof value !== 'string')) {
      throw new FlowExpressionError(`${name}() compares numbers or strings, not ${typeName(best)} and ${typeName(value)}`);
    }
    return better(value as never, best as never) ? value : best;
  });
}

function truthy(value: unknown): boolean {
  if (Array.isArray(value) || typeof value === 'string') return value.length > 0;
  if (isObject(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'boolean' || typeof b === 'boolean') return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
  }
  return false;
}

// ---- tokens -------------------------------------------------------------------------------------

const OPERATORS = ['**', '//', '==', '!=', '<=', '>=', '+', '-', '*', '/', '%', '<', '>', '(', ')', '[', ']', ',', '.'];
const KEYWORDS = new Set(['and', 'or', 'not', 'in']);

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    const at = i;
    const numberMatch = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(text.slice(i));
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      tokens.push({ type: 'number', value: numberMatch![0], at });
      i += numberMatch![0].length;
    } else if (c === '"' || c === "'") {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= text.length) throw new FlowExpressionError(`unterminated string starting at ${at}`);
        const d = text[i]!;
        if (d === c) break;
        if (d === '\\') {
          const escaped = text[i + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };
          if (escaped === undefined || map[escaped] === undefined) throw new FlowExpressionError(`unknown escape at ${i}`);
          value += map[escaped];
          i += 2;
        } else {
          value += d;
          i += 1;
        }
      }
      i += 1;
      tokens.push({ type: 'string', value, at });
    } else if (/[A-Za-z_]/.test(c)) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))![0];
      tokens.push({ type: KEYWORDS.has(name) ? 'op' : 'name', value: name, at });
      i += name.length;
    } else {
      const op = OPERATORS.find((candidate) => text.startsWith(candidate, i));
      if (!op) throw new FlowExpressionError(`unexpected "${c}" at ${i}`);
      tokens.push({ type: 'op', value: op, at });
      i += op.length;
    }
  }
  tokens.push({ type: 'end', value: '', at: text.length });
  return tokens;
}

// ---- parser -------------------------------------------------------------------------------------

const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=', 'in', 'not in']);
/** Deeper than this is refused: a definition must not blow the stack of whoever validates it. */
const MAX_DEPTH = 100;

class Parser {
  private position = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  parse(): Node {
    const node = this.or();
    const next = this.peek();
    if (next.type !== 'end') throw new FlowExpressionError(`unexpected "${next.value}" at ${next.at}`);
    return node;
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.position + offset, this.tokens.length - 1)]!;
  }

  private take(): Token {
    const token = this.peek();
    this.position += 1;
    return token;
  }

  private accept(value: string): boolean {
    const token = this.peek();
    if (token.type === 'op' && token.value === value) {
      this.position += 1;
      return true;
    }
    return false;
  }

  private expect(value: string): void {
    const token = this.peek();
    if (!this.accept(value)) throw new FlowExpressionError(`expected "${value}" at ${token.at}, found ${token.type === 'end' ? 'the end' : `"${token.value}"`}`);
  }

  private nested<T>(parse: () => T): T {
    if ((this.depth += 1) > MAX_DEPTH) throw new FlowExpressionError(`the expression is nested more than ${MAX_DEPTH} deep`);
    try {
      return parse();
    } finally {
      this.depth -= 1;
    }
  }

  private or(): Node {
    let left = this.and();
    while (this.accept('or')) left = { kind: 'logical', op: 'or', left, right: this.and() };
    return left;
  }

  private and(): Node {
    let left = this.not();
    while (this.accept('and')) left = { kind: 'logical', op: 'and', left, right: this.not() };
    return left;
  }

  private not(): Node {
    if (this.accept('not')) return this.nested(() => ({ kind: 'unary', op: 'not', operand: this.not() }));
    return this.comparison();
  }

  private comparison(): Node {
    const operands = [this.additive()];
    const ops: string[] = [];
    for (;;) {
      const token = this.peek();
      let op: string | undefined;
      if (token.type === 'op' && COMPARISONS.has(token.value)) op = token.value;
      else if (token.type === 'op' && token.value === 'not' && this.peek(1).value === 'in') op = 'not in';
      if (!op) break;
      this.position += op === 'not in' ? 2 : 1;
      ops.push(op);
      operands.push(this.additive());
    }
    return ops.length === 0 ? operands[0]! : { kind: 'compare', ops, operands };
  }

  private additive(): Node {
    let left = this.multiplicative();
    for (;;) {
      const op = this.peek();
      if (op.type !== 'op' || (op.value !== '+' && op.value !== '-')) return left;
      this.position += 1;
      left = { kind: 'binary', op: op.value, left, right: this.multiplicative() };
    }
  }

  private multiplicative(): Node {
    let left = this.unary();
    for (;;) {
      const op = this.peek();
      if (op.type !== 'op' || !['*', '/', '//', '%'].includes(op.value)) return left;
      this.position += 1;
      left = { kind: 'binary', op: op.value, left, right: this.unary() };
    }
  }

  private unary(): Node {
    const token = this.peek();
    if (token.type === 'op' && (token.value === '-' || token.value === '+')) {
      this.position += 1;
      return this.nested(() => ({ kind: 'unary', op: token.value as '-' | '+', operand: this.unary() }));
    }
    return this.power();
  }

  private power(): Node {
    const base = this.postfix();
    if (this.accept('**')) return this.nested(() => ({ kind: 'binary', op: '**', left: base, right: this.unary() }));
    return base;
  }

  private postfix(): Node {
    let node = this.primary();
    for (;;) {
      if (this.accept('.')) {
        const name = this.take();
        if (name.type !== 'name') throw new FlowExpressionError(`expected a field name after "." at ${name.at}`);
        node = { kind: 'member', target: node, key: { kind: 'literal', value: name.value } };
      } else if (this.accept('[')) {
        const key = this.nested(() => this.or());
        this.expect(']');
        node = { kind: 'member', target: node, key };
      } else {
        return node;
      }
    }
  }

  private primary(): Node {
    const token = this.take();
    switch (token.type) {
      case 'number':
        return { kind: 'literal', value: Number(token.value) };
      case 'string':
        return { kind: 'literal', value: token.value };
      case 'name': {
        const constants: Record<string, unknown> = { True: true, False: false, None: null, true: true, false: false, null: null };
        if (Object.hasOwn(constants, token.value)) return { kind: 'literal', value: constants[token.value] };
        if (this.accept('(')) {
          if (!Object.hasOwn(FUNCTIONS, token.value)) {
            throw new FlowExpressionError(`unknown function "${token.value}" (known: ${EXPRESSION_FUNCTIONS.join(', ')})`);
          }
          const args: Node[] = [];
          if (!this.accept(')')) {
            do args.push(this.nested(() => this.or()));
            while (this.accept(','));
            this.expect(')');
          }
          return { kind: 'call', name: token.value, args };
        }
        return { kind: 'name', name: token.value };
      }
      case 'op':
        if (token.value === '(') {
          const inner = this.nested(() => this.or());
          this.expect(')');
          return inner;
        }
        if (token.value === '[') {
          const items: Node[] = [];
          if (!this.accept(']')) {
            do items.push(this.nested(() => this.or()));
            while (this.accept(','));
            this.expect(']');
          }
          return { kind: 'list', items };
        }
        throw new FlowExpressionError(`unexpected "${token.value}" at ${token.at}`);
      case 'end':
        throw new FlowExpressionError('the expression ends too early');
    }
  }
}

/** The parsed expression; throws FlowExpressionError naming what is wrong. */
function parse(text: string): Node {
  if (text.length > 10_000) throw new FlowExpressionError('the expression is longer than 10000 characters');
  return new Parser(tokenize(text)).parse();
}

/** Why `text` is not an expression this runner evaluates, or undefined when it is one. */
export function expressionProblem(text: unknown): string | undefined {
  if (typeof text !== 'string') return 'an expression must be a string';
  try {
    parse(text);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

// ---- evaluation ---------------------------------------------------------------------------------

function member(target: unknown, key: unknown): unknown {
  if (Array.isArray(target) || typeof target === 'string') {
    if (typeof key !== 'number' || !Number.isInteger(key)) throw new FlowExpressionError(`a list or string is indexed by an integer, not ${typeName(key)}`);
    const index = key < 0 ? target.length + key : key;
    if (index < 0 || index >= target.length) throw new FlowExpressionError(`index ${key} is out of range (length ${target.length})`);
    return target[index];
  }
  if (isObject(target)) {
    if (typeof key !== 'string') throw new FlowExpressionError(`an object is indexed by a string, not ${typeName(key)}`);
    if (!Object.hasOwn(target, key)) throw new FlowExpressionError(`no field "${key}"`);
    return target[key];
  }
  throw new FlowExpressionError(`cannot take "${String(key)}" of ${typeName(target)}`);
}

function arithmetic(op: string, left: unknown, right: unknown): unknown {
  if (op === '+') {
    if (typeof left === 'string' && typeof right === 'string') return left + right;
    if (Array.isArray(left) && Array.isArray(right)) return [...left, ...right];
  }
  if (op === '*') {
    const repeat = (sequence: string | unknown[], times: unknown) => {
      const count = Math.max(0, number(times, 'repeating'));
      if (!Number.isInteger(count) || count > 100_000) throw new FlowExpressionError('a repeat count must be a whole number up to 100000');
      return typeof sequence === 'string' ? sequence.repeat(count) : Array.from({ length: count }, () => sequence).flat();
    };
    if (typeof left === 'string' || Array.isArray(left)) return repeat(left, right);
    if (typeof right === 'string' || Array.isArray(right)) return repeat(right, left);
  }
  const a = number(left, `"${op}"`);
  const b = number(right, `"${op}"`);
  if ((op === '/' || op === '//' || op === '%') && b === 0) throw new FlowExpressionError('division by zero');
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return a / b;
    case '//':
      return Math.floor(a / b);
    case '%':
      return a - b * Math.floor(a / b);
    case '**':
      return a ** b;
  }
  throw new FlowExpressionError(`unknown operator ${op}`);
}

function compare(op: string, left: unknown, right: unknown): boolean {
  switch (op) {
    case '==':
      return deepEqual(left, right);
    case '!=':
      return !deepEqual(left, right);
    case 'in':
    case 'not in': {
      let found: boolean;
      if (typeof right === 'string') {
        if (typeof left !== 'string') throw new FlowExpressionError(`"in <string>" needs a string on the left, not ${typeName(left)}`);
        found = right.includes(left);
      } else if (Array.isArray(right)) found = right.some((item) => deepEqual(item, left));
      else if (isObject(right)) found = typeof left === 'string' && Object.hasOwn(right, left);
      else throw new FlowExpressionError(`"in" needs a string, list or object on the right, not ${typeName(right)}`);
      return op === 'in' ? found : !found;
    }
  }
  const comparable = (typeof left === 'number' && typeof right === 'number') || (typeof left === 'string' && typeof right === 'string');
  if (!comparable) throw new FlowExpressionError(`"${op}" compares two numbers or two strings, not ${typeName(left)} and ${typeName(right)}`);
  const [a, b] = [left as number | string, right as number | string];
  return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
}

function evaluateNode(node: Node, scope: unknown): unknown {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'name':
      if (!isObject(scope) || !Object.hasOwn(scope, node.name)) throw new FlowExpressionError(`"${node.name}" is not in the flow's state`);
      return scope[node.name];
    case 'list':
      return node.items.map((item) => evaluateNode(item, scope));
    case 'member':
      return member(evaluateNode(node.target, scope), evaluateNode(node.key, scope));
    case 'call':
      return FUNCTIONS[node.name]!(node.args.map((arg) => evaluateNode(arg, scope)));
    case 'unary': {
      const value = evaluateNode(node.operand, scope);
      if (node.op === 'not') return !truthy(value);
      const n = number(value, `unary "${node.op}"`);
      return node.op === '-' ? -n : n;
    }
    case 'binary':
      return arithmetic(node.op, evaluateNode(node.left, scope), evaluateNode(node.right, scope));
    case 'compare': {
      let left = evaluateNode(node.operands[0]!, scope);
      for (let i = 0; i < node.ops.length; i += 1) {
        const right = evaluateNode(node.operands[i + 1]!, scope);
        if (!compare(node.ops[i]!, left, right)) return false;
        left = right;
      }
      return true;
    }
    case 'logical': {
      const left = evaluateNode(node.left, scope);
      if (node.op === 'and' ? !truthy(left) : truthy(left)) return left;
      return evaluateNode(node.right, scope);
    }
  }
}

/**
 * The value of an expression over the flow's state (whose top-level properties are its names).
 * A result that is not JSON (an infinite or NaN number) is an error, as it could not be sent.
 */
export function evaluateExpression(text: string, state: unknown): unknown {
  const value = evaluateNode(parse(text), state);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new FlowExpressionError(`"${text}" is ${value}, not a JSON number`);
  return value;
}
