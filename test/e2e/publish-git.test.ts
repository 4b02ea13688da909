/**
 * Publishing from a git repository, with real git: the test makes a repository (two commits and a
 * tag) and serves it over file:// and over HTTP (a static dumb-HTTP server after
 * `git update-server-info`). Published at a tag and at a commit, each version runs that commit's
 * code and records the commit (hub.source, IsDerivedFrom). A repository that is too large, a ref
 * that does not exist, `ext::` and other transports, and local repositories on a hub that does not
 * allow them are refused with 400s before any version is made; `modelhub publish git+URL@ref` works.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { getJson, postJson, publishRaw, waitForTask } from '../helpers/hub-http.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'publish-git-e2e-'));
const repo = path.join(work, 'repo');
const served = path.join(work, 'served');
let localHub: TestHub;
let strictHub: TestHub;
let server: http.Server;
let httpBase = '';
const commits: Record<string, string> = {};

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.org', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' }).trim();

function metadata(name: string) {
  return {
    datacite: { creators: [{ name: 'Hopper, Grace' }], titles: [{ title: `Published from git: ${name}` }] },
    hub: { owner: 'git', name },
    servable: { type: 'python', python: { module: 'model.py', function: 'run' }, methods: { run: { input: { type: 'number' }, output: { type: 'number' } } } },
  };
}

/** A static file server: git's dumb HTTP protocol needs nothing more. */
function serveStatic(root: string): Promise<http.Server> {
  const httpServer = http.createServer((request, response) => {
    const file = path.join(root, decodeURIComponent(new URL(request.url!, 'http://x').pathname));
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(response);
  });
  return new Promise((resolve) => httpServer.listen(0, '127.0.0.1', () => resolve(httpServer)));
}

/** A bare copy of a repository, made servable over dumb HTTP. */
function bareCopy(source: string, name: string): string {
  const target = path.join(served, name);
  git(work, 'clone', '-q', '--bare', source, target);
  git(target, 'update-server-info');
  return target;
}

async function publishGit(hub: TestHub, body: unknown) {
  const reply = await postJson(`${hub.url}/api/v1/servables`, body);
  if (reply.status !== 202) return { reply };
  return { reply, task: await waitForTask(hub.url, reply.body.task_id, 180_000) };
}

async function expectRefused(hub: TestHub, body: unknown, text: RegExp) {
  const before = (await getJson(`${hub.url}/api/v1/servables`)).body.items.length;
  const { reply } = await publishGit(hub, body);
  expect(reply.status, JSON.stringify(reply.body)).toBe(400);
  expect(reply.body.error.code).toMatch(/^MODELHUB_(BAD_REQUEST|INVALID_METADATA)$/);
  expect(reply.body.error.message).toMatch(text);
  expect((await getJson(`${hub.url}/api/v1/servables`)).body.items.length).toBe(before);
}

async function run(hub: TestHub, servable: string, x: number) {
  const reply = await postJson(`${hub.url}/api/v1/servables/${servable}/run`, { inputs: x });
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return reply.body.output;
}

describe('publishing from a git repository', () => {
  beforeAll(async () => {
    fs.mkdirSync(repo, { recursive: true });
    fs.mkdirSync(served);
    git(repo, 'init', '-q');
    fs.writeFileSync(path.join(repo, 'model.py'), 'def run(x):\n    return 2 * x\n');
    fs.writeFileSync(path.join(repo, 'modelhub.json'), JSON.stringify(metadata('doubler'), null, 2));
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'doubles');
    git(repo, 'tag', '-a', 'v1.0', '-m', 'first release');
    commits.v1 = git(repo, 'rev-parse', 'HEAD');
    fs.writeFileSync(path.join(repo, 'model.py'), 'def run(x):\n    return 3 * x\n');
    git(repo, 'commit', '-q', '-am', 'triples');
    commits.second = git(repo, 'rev-parse', 'HEAD');
    fs.writeFileSync(path.join(repo, 'model.py'), 'def run(x):\n    return 4 * x\n');
    git(repo, 'commit', '-q', '-am', 'quadruples');

    // Too large for the strict hub's 1 MiB bound: 3 MiB that do not compress.
    const big = path.join(work, 'big');
    fs.mkdirSync(big);
    git(big, 'init', '-q');
    fs.writeFileSync(path.join(big, 'weights.bin'), randomBytes(3 * 1024 * 1024));
    fs.writeFileSync(path.join(big, 'modelhub.json'), JSON.stringify(metadata('big')));
    git(big, 'add', '.');
    git(big, 'commit', '-q', '-m', 'big');
    git(big, 'tag', 'v1');

    bareCopy(repo, 'repo.git');
    bareCopy(big, 'big.git');
    server = await serveStatic(served);
    httpBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    localHub = await startTestHub({ env: { MODELHUB_GIT_ALLOW_LOCAL: 'true' } });
    strictHub = await startTestHub({ env: { MODELHUB_GIT_MAX_MB: '1' } });
  });

  afterAll(async () => {
    await localHub?.stop();
    await strictHub?.stop();
    await new Promise((resolve) => server?.close(resolve));
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('file://: at a tag, with the repository\'s modelhub.json, runs that commit\'s code and records the commit', async () => {
    const { reply, task } = await publishGit(localHub, { source: { git: `file://${repo}`, ref: 'v1.0' } });
    expect(reply.status, JSON.stringify(reply.body)).toBe(202);
    expect(task?.status, JSON.stringify(task)).toBe('SUCCEEDED');
    expect(await run(localHub, 'git/doubler', 5)).toBe(10);
    const described = (await getJson(`${localHub.url}/api/v1/servables/git/doubler`)).body;
    expect(described.hub.source).toEqual({ git: `file://${repo}`, ref: 'v1.0', commit: commits.v1 });
    expect(described.datacite.relatedIdentifiers).toContainEqual({
      relatedIdentifier: `git+file://${repo}@${commits.v1}`,
      relatedIdentifierType: 'URL',
      relationType: 'IsDerivedFrom',
    });
    // The repository's metadata file is the document, not one of the servable's files.
    expect(described.hub.files.map((f: { path: string }) => f.path)).toEqual(['model.py']);
  });

  it('file://: at a commit hash, with metadata in the request', async () => {
    const { task } = await publishGit(localHub, { source: { git: `file://${repo}`, ref: commits.second }, metadata: metadata('tripler') });
    expect(task?.status, JSON.stringify(task)).toBe('SUCCEEDED');
    expect(await run(localHub, 'git/tripler', 5)).toBe(15);
    expect((await getJson(`${localHub.url}/api/v1/servables/git/tripler`)).body.hub.source.commit).toBe(commits.second);
  });

  it('HTTP (dumb server): at a tag and at a commit, on a hub that does not allow local repositories', async () => {
    const url = `${httpBase}/repo.git`;
    const atTag = await publishGit(strictHub, { source: { git: url, ref: 'v1.0' }, metadata: metadata('http-tag') });
    expect(atTag.task?.status, JSON.stringify(atTag)).toBe('SUCCEEDED');
    expect(await run(strictHub, 'git/http-tag', 1)).toBe(2);
    const atCommit = await publishGit(strictHub, { source: { git: url, ref: commits.second.slice(0, 12) }, metadata: metadata('http-commit') });
    expect(atCommit.task?.status, JSON.stringify(atCommit)).toBe('SUCCEEDED');
    expect(await run(strictHub, 'git/http-commit', 1)).toBe(3);
    const described = (await getJson(`${strictHub.url}/api/v1/servables/git/http-commit`)).body;
    expect(described.hub.source).toEqual({ git: url, ref: commits.second.slice(0, 12), commit: commits.second });
    const main = await publishGit(strictHub, { source: { git: url, ref: 'main' }, metadata: metadata('http-branch') });
    expect(main.task?.status, JSON.stringify(main)).toBe('SUCCEEDED');
    expect(await run(strictHub, 'git/http-branch', 1)).toBe(4);
  });

  it('refuses a ref that does not exist, a repository that is too large, and URLs that are not https/http', async () => {
    await expectRefused(strictHub, { source: { git: `${httpBase}/repo.git`, ref: 'v9.9' }, metadata: metadata('x') }, /has no tag, branch or commit "v9\.9"/);
    await expectRefused(strictHub, { source: { git: `${httpBase}/repo.git`, ref: 'f'.repeat(40) }, metadata: metadata('x') }, /has no (tag, branch or )?commit/);
    await expectRefused(localHub, { source: { git: `file://${repo}`, ref: 'no-such-branch' } }, /has no tag, branch or commit "no-such-branch"/);
    await expectRefused(strictHub, { source: { git: `${httpBase}/big.git`, ref: 'v1' } }, /more than 1048576 bytes/);
    await expectRefused(strictHub, { source: { git: `${httpBase}/missing.git`, ref: 'v1' }, metadata: metadata('x') }, /cannot read the repository/);
    const marker = path.join(work, 'ext-ran');
    for (const hub of [strictHub, localHub]) {
      for (const url of [`ext::sh -c touch% ${marker}`, `ext::touch%20${marker}`, `fd::17`]) {
        await expectRefused(hub, { source: { git: url, ref: 'main' }, metadata: metadata('x') }, /transports .* are not accepted/);
      }
    }
    expect(fs.existsSync(marker)).toBe(false);
    await expectRefused(strictHub, { source: { git: `file://${repo}`, ref: 'v1.0' } }, /local repositories .* are not accepted on this hub/);
    await expectRefused(strictHub, { source: { git: repo, ref: 'v1.0' } }, /local repositories .* are not accepted on this hub/);
    await expectRefused(strictHub, { source: { git: 'ssh://example.org/repo.git', ref: 'v1.0' }, metadata: metadata('x') }, /the ssh scheme is not accepted/);
    await expectRefused(strictHub, { source: { git: 'git@example.org:repo.git', ref: 'v1.0' }, metadata: metadata('x') }, /is not a URL/);
    await expectRefused(strictHub, { source: { git: `${httpBase}/repo.git`, ref: '--upload-pack=touch' }, metadata: metadata('x') }, /not a tag, branch or commit name/);
    await expectRefused(localHub, { source: { git: `file://${repo}`, ref: 'v1.0' }, metadata: { hub: { owner: 'git', name: 'bad' } } }, /datacite/);
  });

  it('an upload cannot claim a git source: hub.source is the hub\'s to fill', async () => {
    const claimed = { ...metadata('claimed'), hub: { owner: 'git', name: 'claimed', source: { git: 'https://example.org/x.git', ref: 'v1', commit: 'a'.repeat(40) } } };
    const reply = await publishRaw(strictHub.url, claimed, [{ name: 'model.py', bytes: new TextEncoder().encode('def run(x):\n    return x\n') }]);
    expect(reply.status, JSON.stringify(reply.body)).toBe(400);
    expect(reply.body.error.code).toBe('MODELHUB_INVALID_METADATA');
    expect(reply.body.error.message).toContain('hub.source is filled by the hub');
  });

  it('`modelhub publish git+file://…@v1.0` publishes the tag', async () => {
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [path.join(ROOT, 'bin/modelhub.js'), '--url', localHub.url, '--json', 'publish', `git+file://${repo}@v1.0`, '--metadata', path.join(repo, 'modelhub.json')],
        { cwd: work, env: { ...process.env, MODELHUB_CONFIG: path.join(work, 'config.json'), MODELHUB_URL: '', MODELHUB_TOKEN: '' } },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'SUCCEEDED', servable: 'git/doubler', version: 2 });
    expect((await getJson(`${localHub.url}/api/v1/servables/git/doubler/versions/2`)).body.hub.source.commit).toBe(commits.v1);
  });
});
