/**
 * Declared environments in process mode, on a real hub with a real pip and no network: the test
 * writes a small pure-Python package, builds its wheel into a wheelhouse with Debian's pip and
 * setuptools, and starts the hub with MODELHUB_PIP_FIND_LINKS on it. A servable that requires the
 * package (pinned to the version the wheelhouse has) imports it and runs in the environment's venv;
 * two servables declaring the same environment, published at once, share one build; an
 * unsatisfiable pin fails with MODELHUB_BUILD_FAILED and pip's resolver message; requirements that
 * pip would read as options and Debian packages in process mode are refused.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskDocument } from '../../schemas/api.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { postJson, publishRaw, waitForTask } from '../helpers/hub-http.ts';

const PYTHON = '/usr/bin/python3';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'environments-e2e-'));
const wheelhouse = path.join(work, 'wheelhouse');
let hub: TestHub;

const SERVABLE_CODE = `import sys
import hubtoy


def run(x):
    return {"value": hubtoy.triple(x), "prefix": sys.prefix, "hubtoy": hubtoy.__version__}
`;

function metadata(name: string, environment?: Record<string, string[]>) {
  return {
    datacite: { creators: [{ name: 'Lovelace, Ada' }], titles: [{ title: `Environment test ${name}` }] },
    hub: { owner: 'envs', name },
    servable: {
      type: 'python',
      python: { module: 'model.py', function: 'run' },
      ...(environment ? { environment } : {}),
      methods: { run: { input: { type: 'number' }, output: { type: 'any' }, method_details: { example_inputs: 2 } } },
    },
  };
}

const code = { name: 'model.py', bytes: new TextEncoder().encode(SERVABLE_CODE) };
const text = (name: string, content: string) => ({ name, bytes: new TextEncoder().encode(content) });

async function publish(meta: unknown, files: { name: string; bytes: Uint8Array }[]): Promise<TaskDocument> {
  const accepted = await publishRaw(hub.url, meta, files);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  return waitForTask(hub.url, accepted.body.task_id, 300_000);
}

const environmentsDir = () => path.join(hub.dataDir, 'environments');
const builtEnvironments = () => fs.readdirSync(environmentsDir()).filter((entry) => !entry.startsWith('.'));
const buildLines = (task: TaskDocument) => (task.log ?? []).filter((line) => line.includes('building a venv'));

function exec(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(command, args, { env: { ...process.env, PIP_FIND_LINKS: '', PIP_NO_INDEX: '1' } }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command} ${args.join(' ')}: ${stdout}${stderr}`)) : resolve(),
    ),
  );
}

describe('declared environments (process mode)', () => {
  beforeAll(async () => {
    const pkg = path.join(work, 'hubtoy');
    fs.mkdirSync(path.join(pkg, 'hubtoy'), { recursive: true });
    fs.writeFileSync(
      path.join(pkg, 'pyproject.toml'),
      '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "hubtoy"\nversion = "1.2.0"\n',
    );
    fs.writeFileSync(path.join(pkg, 'hubtoy', '__init__.py'), '__version__ = "1.2.0"\n\n\ndef triple(x):\n    return 3 * x\n');
    // Offline: Debian's setuptools builds the wheel, no build isolation, no index.
    await exec(PYTHON, ['-m', 'pip', 'wheel', '--no-index', '--no-build-isolation', '--no-deps', '-w', wheelhouse, pkg]);
    expect(fs.readdirSync(wheelhouse)).toEqual(['hubtoy-1.2.0-py3-none-any.whl']);
    hub = await startTestHub({ env: { MODELHUB_PIP_FIND_LINKS: wheelhouse } });
    // What a hub killed mid-build leaves: swept before the first build.
    fs.mkdirSync(path.join(hub.dataDir, 'environments', '.building-0123abcd-killed', 'lib'), { recursive: true });
  });

  afterAll(async () => {
    await hub?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('the hub\'s interpreter alone cannot import the package (so the venv is what makes it work)', async () => {
    const task = await publish(metadata('no-environment'), [code]);
    expect(task.status).toBe('FAILED');
    expect(task.error?.message).toContain("No module named 'hubtoy'");
  });

  it('two servables with the same environment, published at once, share one build; each imports the package and runs', async () => {
    // One declares it, the other brings a requirements.txt saying the same.
    const [declared, fromFile] = await Promise.all([
      publish(metadata('declared', { python: ['hubtoy==1.2.0'] }), [code]),
      publish(metadata('from-requirements'), [code, text('requirements.txt', '# pinned\nhubtoy==1.2.0\n')]),
    ]);
    expect(declared.status, JSON.stringify(declared)).toBe('SUCCEEDED');
    expect(fromFile.status, JSON.stringify(fromFile)).toBe('SUCCEEDED');
    expect(builtEnvironments()).toHaveLength(1);
    expect([...buildLines(declared), ...buildLines(fromFile)]).toHaveLength(1);
    // The environment is its own step, before inspect, in both tasks.
    for (const task of [declared, fromFile]) {
      expect(task.steps!.map((step) => step.name).slice(0, 4)).toEqual(['validate', 'store', 'environment', 'inspect']);
      expect(task.steps!.find((step) => step.name === 'environment')?.message).toMatch(/^(built|reused) venv [0-9a-f]{32} with hubtoy==1\.2\.0$/);
    }
    const logs = [...(declared.log ?? []), ...(fromFile.log ?? [])];
    expect(logs.some((line) => /pip: Successfully installed hubtoy-1\.2\.0/.test(line))).toBe(true);

    const venv = path.join(environmentsDir(), builtEnvironments()[0]!);
    for (const name of ['declared', 'from-requirements']) {
      const reply = await postJson(`${hub.url}/api/v1/servables/envs/${name}/run`, { inputs: 7 });
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      expect(reply.body.output).toEqual({ value: 21, prefix: venv, hubtoy: '1.2.0' });
    }
    const described = await (await fetch(`${hub.url}/api/v1/servables/envs/from-requirements`)).json();
    expect(described.servable.environment).toEqual({ python: ['hubtoy==1.2.0'] });
  });

  it('a later publish of the same environment reuses the venv without running pip', async () => {
    const task = await publish(metadata('later', { python: ['hubtoy==1.2.0'] }), [code]);
    expect(task.status).toBe('SUCCEEDED');
    expect(buildLines(task)).toHaveLength(0);
    expect(task.log?.some((line) => /environment: venv [0-9a-f]{32}: already built; reusing it/.test(line))).toBe(true);
    expect(task.steps!.find((step) => step.name === 'environment')?.message).toMatch(/^reused venv/);
    expect(task.log?.some((line) => line.includes('pip:'))).toBe(false);
    expect(builtEnvironments()).toHaveLength(1);
  });

  it('an unsatisfiable requirement fails the publish with MODELHUB_BUILD_FAILED naming the package and pip\'s resolver message', async () => {
    const task = await publish(metadata('unsatisfiable', { python: ['hubtoy==9.9'] }), [code]);
    expect(task.status).toBe('FAILED');
    expect(task.error?.code).toBe('MODELHUB_BUILD_FAILED');
    expect(task.error?.message).toContain('pip could not install hubtoy==9.9');
    expect(task.error?.message).toContain('No matching distribution found for hubtoy==9.9');
    expect((task.error?.details as { package?: string }).package).toBe('hubtoy==9.9');
    expect(task.error?.step).toBe('environment');
    // Nothing half-built is left under a hash name, and the version is not listed.
    expect(builtEnvironments()).toHaveLength(1);
    expect(fs.readdirSync(environmentsDir()).filter((entry) => entry.startsWith('.building-'))).toEqual([]); // the killed build's too
    expect((await fetch(`${hub.url}/api/v1/servables/envs/unsatisfiable`)).status).toBe(404);
  });

  it('requirements that pip would read as options are refused: in the metadata (400) and in requirements.txt (named line)', async () => {
    for (const requirement of ['--index-url=http://evil.example/simple', '-e .', 'hubtoy @ https://evil.example/x.whl', 'hubtoy\n--pre']) {
      const reply = await publishRaw(hub.url, metadata('injected', { python: [requirement] }), [code]);
      expect(reply.status, requirement).toBe(400);
      expect(reply.body.error.code).toBe('MODELHUB_INVALID_METADATA');
    }
    const reply = await publishRaw(hub.url, metadata('debian-option', { debian: ['-oAPT::Get::AllowUnauthenticated=true'] }), [code]);
    expect(reply.status).toBe(400);
    const task = await publish(metadata('file-option'), [code, text('requirements.txt', 'hubtoy==1.2.0\n-r /etc/passwd\n')]);
    expect(task.status).toBe('FAILED');
    expect(task.error?.code).toBe('MODELHUB_INVALID_METADATA');
    expect(task.error?.message).toContain('requirements.txt line 2');
    expect(task.error?.step).toBe('environment');
  });

  it('Debian packages in process mode are refused: they need a container build', async () => {
    const task = await publish(metadata('debian', { python: ['hubtoy==1.2.0'], debian: ['libgomp1'] }), [code]);
    expect(task.status).toBe('FAILED');
    expect(task.error?.code).toBe('MODELHUB_BUILD_FAILED');
    expect(task.error?.message).toContain('MODELHUB_CONTAINERS=docker');
    expect(task.error?.message).toContain('libgomp1');
  });
});
