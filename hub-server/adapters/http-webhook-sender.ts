/**
 * Webhook deliveries over HTTP(S), with the guard against server-side request forgery: a webhook
 * URL is someone's text, and the hub must not become a way to reach what only it can reach. Every
 * address a delivery would connect to is checked, at registration and again as the connection is
 * made (in the DNS lookup itself, so a name that later resolves elsewhere is caught too):
 *
 * - always refused: unspecified (0.0.0.0/8, ::) and multicast addresses;
 * - refused unless `allowLinkLocal`: link-local (169.254.0.0/16, fe80::/10), which holds the cloud
 *   metadata services (169.254.169.254), and the other metadata addresses (fd00:ec2::254,
 *   100.100.100.200);
 * - refused unless `allowLoopback`: loopback (127.0.0.0/8, ::1), the hub's own host.
 *
 * Redirects are not followed (a 3xx is a failed attempt), so a receiver cannot send the hub on.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { HubError } from '../../schemas/errors.ts';
import type { WebhookSender } from '../../schemas/ports/webhook-store.ts';

export interface WebhookSenderOptions {
  allowLoopback: boolean;
  allowLinkLocal: boolean;
  timeoutMs: number;
}

const always = new net.BlockList();
always.addSubnet('0.0.0.0', 8, 'ipv4');
always.addAddress('::', 'ipv6');
always.addSubnet('224.0.0.0', 4, 'ipv4');
always.addSubnet('ff00::', 8, 'ipv6');
const linkLocal = new net.BlockList();
linkLocal.addSubnet('169.254.0.0', 16, 'ipv4');
linkLocal.addSubnet('fe80::', 10, 'ipv6');
linkLocal.addAddress('fd00:ec2::254', 'ipv6');
linkLocal.addAddress('100.100.100.200', 'ipv4');
const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** Why the hub will not connect to `address`, or undefined when it may. */
export function refusalOf(address: string, options: Pick<WebhookSenderOptions, 'allowLoopback' | 'allowLinkLocal'>): string | undefined {
  // An IPv4 address written as IPv6 (::ffff:169.254.169.254) is the IPv4 address.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const ip = mapped ?? address;
  const family = net.isIPv4(ip) ? 'ipv4' : net.isIPv6(ip) ? 'ipv6' : undefined;
  if (!family) return `${address} is not an IP address`;
  if (always.check(ip, family)) return `${address} is an unspecified or multicast address`;
  if (!options.allowLinkLocal && linkLocal.check(ip, family)) return `${address} is a link-local or cloud metadata address (MODELHUB_WEBHOOK_ALLOW_LINK_LOCAL)`;
  if (!options.allowLoopback && loopback.check(ip, family)) return `${address} is a loopback address (MODELHUB_WEBHOOK_ALLOW_LOOPBACK)`;
  return undefined;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

export class HttpWebhookSender implements WebhookSender {
  constructor(private readonly options: WebhookSenderOptions) {}

  private parse(text: string): URL {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new HubError('WEBHOOK_URL_REFUSED', `${JSON.stringify(text)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HubError('WEBHOOK_URL_REFUSED', `${url.protocol} is not http: or https:`);
    if (url.username || url.password) throw new HubError('WEBHOOK_URL_REFUSED', 'a webhook URL carries no user name or password (the signature authenticates the hub)');
    return url;
  }

  private hostOf(url: URL): string {
    return url.hostname.replace(/^\[(.*)\]$/, '$1');
  }

  async checkUrl(text: string): Promise<void> {
    const url = this.parse(text);
    const host = this.hostOf(url);
    const addresses = net.isIP(host) ? [host] : await dns.promises.lookup(host, { all: true }).then(
      (found) => found.map((entry) => entry.address),
      (error: unknown) => {
        throw new HubError('WEBHOOK_URL_REFUSED', `${host} does not resolve (${error instanceof Error ? error.message : String(error)})`);
      },
    );
    for (const address of addresses) {
      const refusal = refusalOf(address, this.options);
      if (refusal) throw new HubError('WEBHOOK_URL_REFUSED', `${host}: ${refusal}`);
    }
  }

  /** A DNS lookup that fails for an address the hub will not reach (checked as the socket connects). */
  private readonly guardedLookup = (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (error, found) => {
      if (error) return callback(error, '');
      for (const entry of found) {
        const refusal = refusalOf(entry.address, this.options);
        if (refusal) return callback(Object.assign(new Error(`refused: ${refusal}`), { code: 'EMODELHUBREFUSED' }), '');
      }
      if (options.all) return callback(null, found);
      const first = found[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' }), '');
      return callback(null, first.address, first.family);
    });
  };

  post(text: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<number> {
    const url = this.parse(text);
    // An IP literal is connected to without a lookup: checked here instead.
    const host = this.hostOf(url);
    if (net.isIP(host)) {
      const refusal = refusalOf(host, this.options);
      if (refusal) return Promise.reject(new Error(`refused: ${refusal}`));
    }
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<number>((resolve, reject) => {
      const request = client.request(
        url,
        {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          lookup: this.guardedLookup as unknown as net.LookupFunction,
          timeout: this.options.timeoutMs,
          signal,
        },
        (response) => {
          // The body is not used: read and dropped, so the connection can close.
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
          response.on('error', reject);
        },
      );
      // The socket's idle timeout, and one for the whole attempt: a receiver sending its answer a
      // byte at a time must not hold a delivery slot for ever.
      const tooLate = () => request.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`));
      const deadline = setTimeout(tooLate, this.options.timeoutMs);
      request.on('timeout', tooLate);
      request.on('error', reject);
      request.on('close', () => clearTimeout(deadline));
      request.end(body);
    });
  }
}
