import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ERROR_CODES, HubApiError, createApiError, parseApiError } from '../../sdk/errors.ts';
import { HubClient } from '../../sdk/hub-client.ts';
import { ERROR_CATALOG, HubError } from '../../schemas/errors.ts';

describe('HubApiError', () => {
  it('carries the code, message and details of the hub error document', async () => {
    // The document the hub itself produces for this error.
    const body = JSON.stringify(new HubError('INVALID_INPUTS', 'input "x" must be float32', { details: { input: 'x' } }).toJSON());
    const response = new Response(body, { status: 422, headers: { 'content-type': 'application/json', 'x-request-id': 'req-7' } });
    Object.defineProperty(response, 'url', { value: 'http://hub/api/v1/servables/a/b/run' });
    const error = await createApiError(response);
    expect(error).toBeInstanceOf(HubApiError);
    expect(error).toMatchObject({
      status: ERROR_CATALOG.INVALID_INPUTS.status,
      code: 'MODELHUB_INVALID_INPUTS',
      message: 'The inputs do not fit the servable: input "x" must be float32',
      details: { input: 'x' },
      url: 'http://hub/api/v1/servables/a/b/run',
      requestId: 'req-7',
    });
  });

  it('keeps the message of bodies that are not the hub document', () => {
    expect(parseApiError(400, 'http://hub/v2/models/m/infer', '{"error":"bad shape"}')).toMatchObject({
      code: CLIENT_ERROR_CODES.httpError,
      message: 'bad shape',
      status: 400,
    });
    expect(parseApiError(502, 'http://hub/x', '<html>Bad Gateway</html>').message).toBe('<html>Bad Gateway</html>');
    expect(parseApiError(500, 'http://hub/x', '').message).toBe('HTTP 500 from http://hub/x');
  });
});

describe('HubClient over HTTP', () => {
  let server: http.Server;
  let url: string;
  const seen: { method?: string; url?: string; authorization?: string }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(new HubError('SERVABLE_NOT_FOUND', 'alice/nope').toJSON()));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends the token and throws the hub error as HubApiError', async () => {
    const client = new HubClient({ url, token: 'tok-1' });
    const error = await client.describeServable('alice/nope@2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubApiError);
    expect(error).toMatchObject({ status: 404, code: 'MODELHUB_SERVABLE_NOT_FOUND', message: 'No servable alice/nope' });
    expect(seen.at(-1)).toEqual({ method: 'GET', url: '/api/v1/servables/alice/nope/versions/2', authorization: 'Bearer tok-1' });
  });

  it('uses the injected fetch', async () => {
    const calls: string[] = [];
    const client = new HubClient({
      url: 'http://hub.example',
      fetch: async (input) => {
        calls.push(String(input));
        return Response.json({ total: 0, hits: [], facets: { domain: {}, type: {}, owner: {} } });
      },
    });
    expect((await client.search('vad')).total).toBe(0);
    expect(calls).toEqual(['http://hub.example/api/v1/search?q=vad']);
  });

  it('reports a hub that cannot be reached with its own code', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = await new HubClient({ url: `http://127.0.0.1:${port}` }).getTaskStatus('t1').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 0, code: CLIENT_ERROR_CODES.connectionFailed });
    expect((error as Error).message).toContain('ECONNREFUSED');
  });
});
