/**
 * The Python worker pool against Debian's real interpreter: calls, errors from user code, a worker
 * killed mid-call, a hanging call, stderr forwarding, DLHub's unpack_inputs and autobatch.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import { PythonWorkerPool, WORKER_SCRIPT, type WorkerSpec } from '../../servables/python-worker-pool.ts';
import { rejection } from '../helpers/rejection.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/python/', import.meta.url));
const PYTHON = process.env.MODELHUB_PYTHON ?? '/usr/bin/python3';

const pools: PythonWorkerPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

async function startPool(spec: Partial<WorkerSpec>, options: ConstructorParameters<typeof PythonWorkerPool>[1] = {}) {
  const pool = new PythonWorkerPool(
    { kind: 'python', files_dir: FIXTURES, module: 'toolbox', function: 'double', ...spec },
    { python: PYTHON, ...options },
  );
  pools.push(pool);
  await pool.start();
  return pool;
}

describe('PythonWorkerPool', () => {
  it('loads once and calls a function many times, with parameters as keyword arguments', async () => {
    const pool = await startPool({ function: 'double', methods: { add: 'add' } });
    const outputs = await Promise.all([1, 2.5, -3].map((x) => pool.call('run', x)));
    expect(outputs).toEqual([2, 5, -6]);
    expect(await pool.call('add', 4, { b: 6, scale: 10 })).toBe(100);
  });

  it('spreads inputs with unpack_inputs and maps over them with autobatch', async () => {
    const unpack = await startPool({ function: 'add', unpack_inputs: true });
    expect(await unpack.call('run', [2, 3])).toBe(5);
    expect(await unpack.call('run', { a: 2, b: 3, scale: 2 })).toBe(10);
    const batch = await startPool({ function: 'square', autobatch: true });
    expect(await batch.call('run', [1, 2, 3, 4])).toEqual([1, 4, 9, 16]);
  });

  it('keeps a class instance between calls', async () => {
    const pool = await startPool({ function: undefined, class_name: 'Counter', method: 'increment', init_args: { start: 10, step: 5 } });
    expect(await pool.call('run', 1)).toEqual({ count: 15, instances: 1 });
    expect(await pool.call('run', 2)).toEqual({ count: 25, instances: 1 });
    expect(await pool.call('run', 1)).toEqual({ count: 30, instances: 1 });
  });

  it('answers an exception in user code with SERVABLE_FAILED, its type, message and traceback', async () => {
    const pool = await startPool({ function: 'fail' });
    const error = await rejection(pool.call('run', 'x'));
    expect(error.code).toBe('MODELHUB_SERVABLE_FAILED');
    expect(error.message).toContain("ValueError: cannot handle 'x'");
    const details = error.details as { type: string; message: string; traceback: string };
    expect(details.type).toBe('ValueError');
    expect(details.message).toBe("cannot handle 'x'");
    expect(details.traceback).toContain('toolbox.py');
    // The worker survived the exception: same process, still serving.
    const [pid] = pool.pids;
    await rejection(pool.call('run', 'y'));
    expect(pool.pids).toEqual([pid]);
  });

  it('forwards what user code prints to the logger, never into the frames', async () => {
    const lines: string[] = [];
    const pool = await startPool({ function: 'chatty' }, { logger: (line) => lines.push(line) });
    expect(await pool.call('run', 'hello')).toBe('hello');
    await expect.poll(() => lines).toContain('chatty says hello');
  });

  it('writes NaN and infinities as null, which JSON can carry', async () => {
    const pool = await startPool({ function: 'not_finite' });
    expect(await pool.call('run', 0)).toEqual([1.5, null, null]);
  });

  it('replaces a worker killed in the middle of a call; the next call works', async () => {
    const pool = await startPool({ function: 'sleepy', methods: { pid: 'pid' } });
    const [before] = pool.pids;
    const running = pool.call('run', 5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.kill(before!, 'SIGKILL');
    const error = await rejection(running);
    expect(error.code).toBe('MODELHUB_SERVABLE_FAILED');
    expect(error.message).toMatch(/SIGKILL/);
    const after = await pool.call('pid', null);
    expect(after).not.toBe(before);
    expect(await pool.call('run', 0)).toBe(0);
  });

  it('kills and replaces a worker whose call passes the time limit', async () => {
    const pool = await startPool({ function: 'sleepy', methods: { pid: 'pid' } }, { timeoutMs: 400 });
    const [before] = pool.pids;
    const started = Date.now();
    const error = await rejection(pool.call('run', 30));
    expect(error.code).toBe('MODELHUB_DEADLINE_EXCEEDED');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await pool.call('run', 0.01)).toBe(0.01);
    expect(await pool.call('pid', null)).not.toBe(before);
  });

  it('holds a worker to its memory limit: an allocation past it raises MemoryError in user code', async () => {
    const pool = await startPool({ function: 'hog' }, { memoryLimitMb: 300 });
    expect(await pool.call('run', 16)).toBe(16 * 1024 * 1024);
    const error = await rejection(pool.call('run', 1024));
    expect(error.code).toBe('MODELHUB_SERVABLE_FAILED');
    expect((error.details as { type: string }).type).toBe('MemoryError');
    expect(await pool.call('run', 1)).toBe(1024 * 1024);
  });

  it('runs one call at a time per worker and queues the rest', async () => {
    const pool = await startPool({ function: 'sleepy_pid' }, { size: 2 });
    expect(pool.pids).toHaveLength(2);
    const started = Date.now();
    const pids = await Promise.all([0.3, 0.3, 0.3, 0.3].map((s) => pool.call('run', s)));
    // Two workers, four calls of 0.3 s: each worker took two, one after the other.
    expect(Date.now() - started).toBeGreaterThanOrEqual(580);
    expect([...new Set(pids)].sort()).toEqual([...pool.pids].sort());
    expect(pids.filter((pid) => pid === pids[0])).toHaveLength(2);
  });

  it('fails to start with INVALID_MODEL for a module that does not import, INVALID_METADATA for a missing function', async () => {
    const broken = new PythonWorkerPool({ kind: 'python', files_dir: FIXTURES, module: 'broken.py', function: 'run' }, { python: PYTHON });
    const error = await rejection(broken.start());
    expect(error.code).toBe('MODELHUB_INVALID_MODEL');
    expect(error.message).toContain('SyntaxError');
    const missing = new PythonWorkerPool({ kind: 'python', files_dir: FIXTURES, module: 'toolbox', function: 'nope' }, { python: PYTHON });
    const lookup = await rejection(missing.start());
    expect(lookup.code).toBe('MODELHUB_INVALID_METADATA');
    expect(lookup.message).toContain("no attribute 'nope'");
  });

  it('answers RUNTIME_UNAVAILABLE when the interpreter does not exist', async () => {
    const pool = new PythonWorkerPool({ kind: 'python', files_dir: FIXTURES, module: 'toolbox', function: 'double' }, {
      python: path.join(FIXTURES, 'no-such-python'),
    });
    expect((await rejection(pool.start())).code).toBe('MODELHUB_RUNTIME_UNAVAILABLE');
  });

  it('exposes load_servable and call_servable to Python code that imports worker.py (the container runner)', () => {
    const script = [
      'import json, sys',
      `sys.path.insert(0, ${JSON.stringify(path.dirname(WORKER_SCRIPT))})`,
      'import worker',
      `loaded = worker.load_servable({"kind": "python", "files_dir": ${JSON.stringify(FIXTURES)}, "module": "toolbox", "function": "add", "unpack_inputs": True})`,
      'print(json.dumps(worker.call_servable(loaded, "run", {"a": 1, "b": 2}, {"scale": 3})))',
    ].join('\n');
    expect(JSON.parse(execFileSync(PYTHON, ['-c', script], { encoding: 'utf8' }))).toBe(9);
  });
});
