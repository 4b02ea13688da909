/**
 * Declared environments without pip: requirement checking (nothing pip would read as an option),
 * the requirement files found as repo2docker finds them, the environment hash, pip's failure
 * message, and the SDK's setRequirements / addRequirement / requirements.txt beside a model.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  environmentHash,
  parseAptTxt,
  parseEnvironmentYml,
  parsePyprojectDependencies,
  parseRequirementsTxt,
  resolveEnvironment,
} from '../../servables/environments.ts';
import { pipFailure } from '../../servables/process-environments.ts';
import { environmentDockerfile } from '../../servables/environment-image.ts';
import { PythonFunction } from '../../sdk/models/python-function.ts';
import { ServableMetadata } from '../../schemas/metadata.ts';
import { assertValid } from '../../schemas/validate.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'environments-unit-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const hubError = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('expected a refusal');
};

describe('requirements', () => {
  it('reads requirements.txt lines, skipping comments, and refuses options by line', () => {
    expect(parseRequirementsTxt('# tools\nnumpy>=1.24,<2  # fast\n\nscikit-learn==1.2.1\nrequests[socks]; python_version >= "3.8"\n')).toEqual([
      'numpy>=1.24,<2',
      'scikit-learn==1.2.1',
      'requests[socks]; python_version >= "3.8"',
    ]);
    for (const bad of ['-r other.txt', '--index-url http://evil', '-e .', 'pkg @ https://x/y.whl', 'git+https://x/y']) {
      const error = hubError(() => parseRequirementsTxt(`numpy\n${bad}\n`));
      expect(error.code, bad).toBe('MODELHUB_INVALID_METADATA');
      expect(error.message).toContain('requirements.txt line 2');
    }
  });

  it('the metadata schema refuses requirements and Debian packages that start with "-" or are not names', () => {
    const document = (environment: unknown) => ({
      datacite: { creators: [{ name: 'A' }], titles: [{ title: 'T' }] },
      hub: { owner: 'o', name: 'n' },
      servable: { type: 'python', environment, methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } },
    });
    expect(() => assertValid(ServableMetadata, document({ python: ['numpy==1.26.4'], debian: ['libgomp1', 'g++'] }), 'INVALID_METADATA')).not.toThrow();
    for (const environment of [{ python: ['--pre'] }, { python: ['numpy --hash=x'] }, { debian: ['-y'] }, { debian: ['Foo'] }, { debian: ['a b'] }, { ruby: ['x'] }]) {
      expect(() => assertValid(ServableMetadata, document(environment), 'INVALID_METADATA'), JSON.stringify(environment)).toThrow();
    }
  });

  it('reads pyproject.toml [project] dependencies, environment.yml (pip: and conda entries) and apt.txt', () => {
    expect(parsePyprojectDependencies('[build-system]\nrequires = ["setuptools"]\n\n[project]\nname = "x"\ndependencies = [\n  "numpy>=1.24",\n  \'rdkit\',\n]\n\n[tool.x]\ndependencies = ["no"]\n')).toEqual([
      'numpy>=1.24',
      'rdkit',
    ]);
    const yml = parseEnvironmentYml('name: model\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - numpy=1.26\n  - pip\n  - pip:\n    - hubtoy==1.2.0\n    - pymatgen>=2024.1\n');
    expect(yml.python).toEqual(['numpy==1.26.*', 'hubtoy==1.2.0', 'pymatgen>=2024.1']);
    expect(yml.warnings[0]).toContain('numpy=1.26');
    expect(parseAptTxt('# runtime libraries\nlibgomp1\n')).toEqual(['libgomp1']);
    expect(hubError(() => parseAptTxt('-oDebug::pkgProblemResolver=1\n')).code).toBe('MODELHUB_INVALID_METADATA');
  });

  it('finds the environment among the files (declared wins; requirements.txt before pyproject.toml; apt.txt adds Debian packages)', async () => {
    const write = (name: string, text: string) => {
      const localPath = path.join(work, name);
      fs.writeFileSync(localPath, text);
      return { path: name, localPath, sha256: '', size: text.length };
    };
    const files = [write('requirements.txt', 'b==1\na==2\n'), write('pyproject.toml', '[project]\ndependencies = ["c"]\n'), write('apt.txt', 'libgomp1\n')];
    expect(await resolveEnvironment(undefined, files)).toMatchObject({ environment: { python: ['a==2', 'b==1'], debian: ['libgomp1'] }, source: 'requirements.txt and apt.txt' });
    expect(await resolveEnvironment({ python: ['z'] }, files)).toMatchObject({ environment: { python: ['z'] }, source: 'servable.environment' });
    expect((await resolveEnvironment(undefined, [files[1]!])).environment).toEqual({ python: ['c'] });
    expect((await resolveEnvironment(undefined, [])).environment).toBeUndefined();
  });

  it('hashes the same environment to the same name whatever the order, and differently per interpreter', () => {
    const a = environmentHash({ python: ['a==1', 'b==2'] }, '/usr/bin/python3');
    expect(environmentHash({ python: ['a==1', 'b==2'] }, '/usr/bin/python3')).toBe(a);
    expect(environmentHash({ python: ['a==1', 'b==3'] }, '/usr/bin/python3')).not.toBe(a);
    expect(environmentHash({ python: ['a==1', 'b==2'] }, '/opt/python/bin/python3')).not.toBe(a);
  });

  it("takes pip's ERROR lines as the resolver message and names the requirement", () => {
    const lines = [
      'Looking in links: /wheels',
      'ERROR: Could not find a version that satisfies the requirement hubtoy==9.9 (from versions: 1.2.0)',
      'ERROR: No matching distribution found for hubtoy==9.9',
    ];
    expect(pipFailure(lines, ['numpy', 'hubtoy==9.9'])).toEqual({ package: 'hubtoy==9.9', message: `${lines[1]} ${lines[2]}` });
  });
});

describe('environment images (docker mode)', () => {
  it('writes apt-get and pip lines with options ended by --, the wheelhouse copied in and --no-index', () => {
    const dockerfile = environmentDockerfile('modelhub/python:bookworm', { python: ['hubtoy==1.2.0', 'numpy>=1.24; python_version >= "3.8"'], debian: ['jq'] }, { findLinks: ['/srv/wheels'] });
    expect(dockerfile).toContain('FROM modelhub/python:bookworm\n');
    expect(dockerfile).toContain('apt-get install -y --no-install-recommends -- python3-pip jq');
    expect(dockerfile).toContain('COPY wheelhouse/ /tmp/wheelhouse/');
    expect(dockerfile).toContain('"--no-index","--find-links","/tmp/wheelhouse/0","--","hubtoy==1.2.0","numpy>=1.24; python_version >= \\"3.8\\""]');
    const debianOnly = environmentDockerfile('modelhub/python:bookworm', { debian: ['libgomp1'] }, {});
    expect(debianOnly).toContain('-- libgomp1');
    expect(debianOnly).not.toContain('pip');
    expect(environmentDockerfile('b', { python: ['x'] }, { indexUrl: 'https://mirror.example/simple' })).toContain('"--index-url","https://mirror.example/simple","--","x"]');
  });
});

describe('SDK requirements', () => {
  it('setRequirements, addRequirement and a requirements.txt beside the module fill servable.environment', async () => {
    const dir = path.join(work, 'model');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'model.py'), 'def run(x):\n    return x\n');
    fs.writeFileSync(path.join(dir, 'requirements.txt'), 'hubtoy==1.2.0\n');
    const model = await PythonFunction.create({ module: path.join(dir, 'model.py'), function: 'run' });
    expect(model.requirements()).toEqual(['hubtoy==1.2.0']);
    model.addRequirement('numpy>=1.24').addRequirement('hubtoy==1.2.0');
    expect(model.setTitle('t').setName('o/n').setAuthors(['A']).toMetadata().servable.environment).toEqual({ python: ['hubtoy==1.2.0', 'numpy>=1.24'] });
    expect(() => model.addRequirement('--index-url=http://evil')).toThrow(/not a PEP 508 requirement/);
    expect(model.setRequirements([]).toMetadata().servable.environment).toBeUndefined();
  });
});

describe('git sources (no network: what is refused before git runs)', () => {
  it('accepts https and http, refuses transports, other schemes, scp forms and local repositories unless allowed', async () => {
    const { checkGitUrl, checkGitRef } = await import('../../builder/git-source.ts');
    expect(checkGitUrl('https://git.example.org/lab/model.git', false)).toEqual({ url: 'https://git.example.org/lab/model.git', local: false });
    expect(checkGitUrl('http://127.0.0.1:8080/repo.git', false).local).toBe(false);
    for (const url of ['ext::sh -c touch% /tmp/x', 'fd::3', 'ssh://host/repo.git', 'git://host/repo.git', 'git@host:repo.git', 'ftp://host/repo', '-uhttps://x', '']) {
      expect(hubError(() => checkGitUrl(url, true)).code, url).toBe('MODELHUB_BAD_REQUEST');
    }
    for (const url of ['file:///srv/repo', '/srv/repo', './repo']) {
      expect(hubError(() => checkGitUrl(url, false)).message, url).toContain('MODELHUB_GIT_ALLOW_LOCAL=true');
      expect(checkGitUrl(url, true).local).toBe(true);
    }
    for (const ref of ['v1.0', 'main', 'release/2024-01', '0123abcdef', 'a'.repeat(40)]) expect(checkGitRef(ref)).toBe(ref);
    for (const ref of ['--upload-pack=x', '-b', 'a..b', 'a b', 'x@{1}', 'tag.lock', 'a//b', '']) {
      expect(hubError(() => checkGitRef(ref)).code, ref).toBe('MODELHUB_BAD_REQUEST');
    }
  });

  it('the CLI reads git+URL@ref (pip\'s form)', async () => {
    const { parseGitSpec } = await import('../../sdk/operations/publish-from-git.ts');
    expect(parseGitSpec('git+https://host/lab/model.git@v1.0')).toEqual({ git: 'https://host/lab/model.git', ref: 'v1.0' });
    expect(parseGitSpec('git+https://user@host/lab/model.git@abc1234')).toEqual({ git: 'https://user@host/lab/model.git', ref: 'abc1234' });
    expect(parseGitSpec('git+file:///tmp/repo@main')).toEqual({ git: 'file:///tmp/repo', ref: 'main' });
    expect(parseGitSpec('model.onnx')).toBeUndefined();
    expect(() => parseGitSpec('git+https://host/repo.git')).toThrow(/names no ref/);
  });
});
