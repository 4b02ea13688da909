/**
 * `modelhub token` both ways: the first admin token made on the data folder, then tokens made,
 * listed and revoked through a running hub with it; the secret printed once and never listed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../hub-server/app.ts';
import { loadConfig } from '../../hub-server/config.ts';
import { buildCli } from '../../hub-server/cli.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-token-cli-'));

async function cli(...args: string[]): Promise<{ out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const program = buildCli({ out: (line) => out.push(line), err: (line) => err.push(line) });
  const exitCode = process.exitCode;
  await program.parseAsync(['node', 'modelhub', ...args]);
  process.exitCode = exitCode;
  return { out: out.join('\n'), err: err.join('\n') };
}

describe('modelhub token', () => {
  let app: FastifyInstance;
  let url = '';
  beforeAll(async () => {
    app = await buildApp(loadConfig({ MODELHUB_DATA: dir, MODELHUB_AUTH: 'tokens', MODELHUB_DEMO: 'false', MODELHUB_LOG_LEVEL: 'silent' }), { logger: false });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('makes the first admin token on the data folder, then works through the hub with it', async () => {
    const first = JSON.parse((await cli('--json', 'token', 'create', '--user', 'admin', '--admin', '--data', dir)).out);
    expect(first).toMatchObject({ user: 'admin', scopes: ['admin'], created_by: 'local' });
    expect(first.token).toMatch(/^mh_/);

    const human = await cli('--url', url, '--token', first.token, 'token', 'create', '--user', 'alice', '--group', 'lab', '--scope', 'run', '--expires', '30d');
    const secret = /\b(mh_[A-Za-z0-9_-]{43})\b/.exec(human.out)?.[1];
    expect(secret, human.out + human.err).toBeDefined();
    expect(human.out).toMatch(/for alice \(run; groups lab; expires /);

    const whoami = await fetch(`${url}/api/v1/tokens`, { headers: { authorization: `Bearer ${secret}` } });
    const own = (await whoami.json()) as { tokens: { id: string; user: string; last_used_at?: string }[] };
    expect(own.tokens).toHaveLength(1);
    expect(own.tokens[0]).toMatchObject({ user: 'alice' });

    const listed = await cli('--url', url, '--token', first.token, 'token', 'list');
    expect(listed.out).toMatch(/tok_\w+\s+alice\s+run\s+lab\s+active/);
    expect(listed.out).not.toContain(secret!.slice(3));
    const local = JSON.parse((await cli('--json', 'token', 'list', '--data', dir)).out);
    expect(local.tokens.map((t: { user: string }) => t.user).sort()).toEqual(['admin', 'alice']);

    const revoked = await cli('--url', url, '--token', first.token, 'token', 'revoke', own.tokens[0]!.id);
    expect(revoked.out).toMatch(new RegExp(`revoked ${own.tokens[0]!.id} \\(alice\\)`));
    expect((await fetch(`${url}/api/v1/tokens`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(401);

    // Without a token the hub refuses, and the CLI says so with the hub's code.
    const refused = await cli('--url', url, 'token', 'create', '--user', 'bob');
    expect(refused.err).toMatch(/MODELHUB_UNAUTHENTICATED/);
    // The audit log has both ways of making tokens.
    const audit = (await (await fetch(`${url}/api/v1/audit?action=token.create`, { headers: { authorization: `Bearer ${first.token}` } })).json()) as { events: { actor: string }[] };
    expect(audit.events.map((e) => e.actor)).toEqual(['admin', 'local']);
  });
});
