/**
 * The endpoint's file cache against a stand-in for the hub's file route (a local HTTP server that
 * answers as `/api/v1/endpoints/{o}/{n}/files/{sha256}` does, and can be told to send other
 * bytes): a file whose bytes do not match its digest is refused and never kept (so it never runs);
 * matching bytes are kept and not fetched again; the endpoint token rides in its own header.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileCache } from '../../hub-server/endpoint-agent/file-cache.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';

const GOOD = Buffer.from('the real model bytes');
const SHA = createHash('sha256').update(GOOD).digest('hex');
const document = { hub: { owner: 'alice', name: 'm', version: 3, files: [{ path: 'm.onnx', sha256: SHA, size: GOOD.length }] } } as unknown as PublishedMetadata;

describe('endpoint file cache (stand-in hub)', () => {
  let server: http.Server;
  let url = '';
  let tamper = true;
  const requests: { url: string; token: string | undefined }[] = [];
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-file-cache-'));

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      requests.push({ url: request.url ?? '', token: request.headers['x-modelhub-endpoint-token'] as string | undefined });
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.end(tamper ? Buffer.from('something else entirely') : GOOD);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('refuses bytes that do not match the digest, keeps matching ones, and fetches each once', async () => {
    const cache = new FileCache(root, { url, endpoint: 'alice/box', token: () => 'mhe_secret' });
    await expect(cache.ensure(document)).rejects.toMatchObject({ code: 'MODELHUB_CHECKSUM_MISMATCH' });
    expect(await cache.blobs.has(SHA)).toBe(false);
    expect(requests[0]).toEqual({ url: `/api/v1/endpoints/alice/box/files/${SHA}?servable=alice%2Fm&version=3`, token: 'mhe_secret' });

    tamper = false;
    await Promise.all([cache.ensure(document), cache.ensure(document)]);
    expect(await cache.blobs.has(SHA)).toBe(true);
    expect(fs.readFileSync(await cache.blobs.localPath(SHA)).equals(GOOD)).toBe(true);
    await cache.ensure(document);
    expect(requests).toHaveLength(2);
  });
});
