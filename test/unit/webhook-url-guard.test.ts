/** The webhook address guard and retry schedule (docs/webhooks.md), without a hub. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HttpWebhookSender, refusalOf } from '../../hub-server/adapters/http-webhook-sender.ts';
import { backoffMs, signatureOf } from '../../hub-server/use-cases/webhooks.ts';
import { createHmac } from 'node:crypto';

const strict = { allowLoopback: false, allowLinkLocal: false };

describe('webhook address guard', () => {
  it('refuses link-local, metadata, loopback, unspecified and multicast addresses by default', () => {
    for (const address of ['169.254.169.254', '169.254.0.1', '::ffff:169.254.169.254', 'fe80::1', 'fd00:ec2::254', '100.100.100.200', '127.0.0.1', '127.1.2.3', '::1', '0.0.0.0', '::', '224.0.0.1', 'ff02::1']) {
      expect(refusalOf(address, strict), address).toBeDefined();
    }
    for (const address of ['10.0.0.1', '192.168.1.10', '8.8.8.8', '2001:db8::1', '100.100.100.201']) expect(refusalOf(address, strict), address).toBeUndefined();
  });

  it('lets loopback and link-local through only when configured', () => {
    expect(refusalOf('127.0.0.1', { allowLoopback: true, allowLinkLocal: false })).toBeUndefined();
    expect(refusalOf('169.254.169.254', { allowLoopback: true, allowLinkLocal: false })).toBeDefined();
    expect(refusalOf('169.254.169.254', { allowLoopback: false, allowLinkLocal: true })).toBeUndefined();
  });

  it('checks names by what they resolve to, at registration and when connecting', async () => {
    const sender = new HttpWebhookSender({ ...strict, timeoutMs: 5000 });
    await expect(sender.checkUrl('http://localhost:1/')).rejects.toMatchObject({ code: 'MODELHUB_WEBHOOK_URL_REFUSED' });
    const server = http.createServer((_request, response) => response.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      await expect(sender.post(`http://localhost:${port}/`, {}, '{}', new AbortController().signal)).rejects.toThrow(/loopback/);
      await expect(sender.post(`http://127.0.0.1:${port}/`, {}, '{}', new AbortController().signal)).rejects.toThrow(/loopback/);
      const open = new HttpWebhookSender({ allowLoopback: true, allowLinkLocal: false, timeoutMs: 5000 });
      expect(await open.post(`http://localhost:${port}/`, {}, '{}', new AbortController().signal)).toBe(200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('webhook signing and retries', () => {
  it('signs `<timestamp>.<body>` with HMAC-SHA256, hex', () => {
    const expected = createHmac('sha256', 'k').update('1700000000.{"a":1}').digest('hex');
    expect(signatureOf('k', '1700000000', '{"a":1}')).toBe(`sha256=${expected}`);
  });

  it('doubles the wait after each failed attempt, up to the maximum', () => {
    const options = { backoffMs: 1000, backoffMaxMs: 5000 };
    expect([1, 2, 3, 4, 5].map((attempt) => backoffMs(options, attempt))).toEqual([1000, 2000, 4000, 5000, 5000]);
  });
});

describe('webhook sender time limit', () => {
  it('gives up on a receiver that answers too slowly, even one that keeps sending', async () => {
    const server = http.createServer((_request, response) => {
      response.writeHead(200);
      const drip = setInterval(() => response.write('.'), 20);
      response.on('close', () => clearInterval(drip));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const sender = new HttpWebhookSender({ allowLoopback: true, allowLinkLocal: false, timeoutMs: 300 });
      await expect(sender.post(`http://127.0.0.1:${port}/`, {}, '{}', new AbortController().signal)).rejects.toThrow(/no answer within 300 ms/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
