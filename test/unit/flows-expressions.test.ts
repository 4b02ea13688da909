/**
 * Globus Flows `.=` expressions: the evaluator against Python itself (Globus documents the language
 * as Python-like: names from the state, `.field` and `[index]`, `+` joining strings and lists,
 * `//` and `%` as Python has them), errors named, and what validate refuses.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { evaluateExpression, expressionProblem, FlowExpressionError } from '../../sdk/flows/expression.ts';

const STATE = {
  foo: 'bar',
  object_val: { sub_val1: 'embedded', sub_val2: 'also_embedded' },
  n: 7,
  m: -3,
  x: 2.5,
  items: [1, 2, 3],
  words: ['a', 'b'],
  flag: true,
  nothing: null,
};

const EXPRESSIONS = [
  "foo + ' ' + object_val.sub_val1",
  'n + m * 2',
  '(n + m) * 2',
  'n / 2',
  'n // 2',
  'm // 2',
  'n % 3',
  'm % 3',
  '2 ** 10',
  '-n + x',
  'items + [4, 5]',
  'words * 2',
  'items[0] + items[-1]',
  "object_val['sub_val2']",
  'len(items) + len(foo)',
  'n > 3 and m < 0',
  'n > 3 and m > 0',
  'nothing or foo',
  'not flag',
  "'ar' in foo",
  '2 in items',
  "'sub_val1' in object_val",
  '9 not in items',
  '1 < n < 10',
  'items == [1, 2, 3]',
  "str(n) + '!'",
  "int('42') + 1",
  'float(n) / 4',
  'abs(m)',
  'max(items)',
  'min(n, m, 0)',
  'sum(items) * 1.5',
  'round(x)',
  'round(3.5)',
  'round(2.675, 1)',
  'bool(items) and bool(0) == False',
  '1e3 + .5',
  '"double " + \'single\'',
];

/** Python's own answers for the same expressions over the same state (JSON in and out). */
function pythonAnswers(): unknown[] {
  const program = `
import json, sys
state = json.loads(sys.argv[1])
# Objects answer .field as the flow language's objects do.
class Obj(dict):
    __getattr__ = dict.__getitem__
def wrap(v):
    if isinstance(v, dict): return Obj({k: wrap(x) for k, x in v.items()})
    if isinstance(v, list): return [wrap(x) for x in v]
    return v
names = {k: wrap(v) for k, v in state.items()}
names.update(len=len, str=str, int=int, float=float, abs=abs, max=max, min=min, sum=sum, round=round, bool=bool)
print(json.dumps([eval(e, {'__builtins__': {}}, names) for e in json.loads(sys.argv[2])]))
`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', program, JSON.stringify(STATE), JSON.stringify(EXPRESSIONS)], { encoding: 'utf8' })) as unknown[];
}

describe('Globus Flows expressions', () => {
  it('computes what Python computes for the documented operators and functions', () => {
    const expected = pythonAnswers();
    EXPRESSIONS.forEach((expression, i) => {
      const value = evaluateExpression(expression, STATE);
      if (typeof expected[i] === 'number') expect(value, expression).toBeCloseTo(expected[i] as number, 12);
      else expect(value, expression).toEqual(expected[i]);
    });
    // The example of the Globus documentation.
    expect(evaluateExpression("foo + ' ' + object_val.sub_val1", { foo: 'bar', object_val: { sub_val1: 'embedded' } })).toBe('bar embedded');
  });

  it('names what cannot be evaluated', () => {
    const cases: [string, RegExp][] = [
      ['missing + 1', /"missing" is not in the flow's state/],
      ['foo + 1', /needs a number, not a string/],
      ['n / 0', /division by zero/],
      ['items[7]', /out of range/],
      ['object_val.nope', /no field "nope"/],
      ['2 ** 2000', /not a JSON number/],
      ["n < 'a'", /compares two numbers or two strings/],
    ];
    for (const [expression, message] of cases) {
      expect(() => evaluateExpression(expression, STATE), expression).toThrow(FlowExpressionError);
      expect(() => evaluateExpression(expression, STATE), expression).toThrow(message);
    }
  });

  it('refuses malformed expressions and unknown functions before anything runs', () => {
    expect(expressionProblem('n +')).toMatch(/ends too early/);
    expect(expressionProblem("open('/etc/passwd')")).toMatch(/unknown function "open"/);
    expect(expressionProblem('__import__("os")')).toMatch(/unknown function "__import__"/);
    expect(expressionProblem("'unterminated")).toMatch(/unterminated string/);
    expect(expressionProblem('a ; b')).toMatch(/unexpected ";"/);
    expect(expressionProblem(42)).toMatch(/must be a string/);
    expect(expressionProblem('('.repeat(500) + '1' + ')'.repeat(500))).toMatch(/nested more than/);
    expect(expressionProblem('n + 1')).toBeUndefined();
  });
});
