/**
 * The calls a flow makes to any Action Provider: introspect, run, status, cancel, release. Works
 * against modelhub's providers and any other that follows the Action Provider API.
 */
import type { ActionStatus, ProviderDescription } from '../../schemas/actions.ts';

export type FetchLike = typeof fetch;

export interface ActionClientOptions {
  fetch?: FetchLike;
  /** Bearer token: one for every provider, or chosen per provider URL (undefined: none). */
  token?: string | ((actionUrl: string) => string | undefined);
}

/** A provider answered outside 2xx: carries its status and parsed body. */
export class ActionProviderError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    const detail =
      (body as { error?: { message?: string } })?.error?.message ??
      (body as { description?: string })?.description ??
      (typeof body === 'string' ? body : JSON.stringify(body));
    super(`${url} answered ${status}: ${detail}`);
    this.name = 'ActionProviderError';
  }
}

export class ActionClient {
  private readonly fetch: FetchLike;

  constructor(private readonly options: ActionClientOptions = {}) {
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  introspect(actionUrl: string): Promise<ProviderDescription> {
    return this.call<ProviderDescription>('GET', actionUrl, '');
  }

  run(actionUrl: string, request: { request_id: string; body: unknown; label?: string }): Promise<ActionStatus> {
    return this.call<ActionStatus>('POST', actionUrl, '/run', request);
  }

  status(actionUrl: string, actionId: string): Promise<ActionStatus> {
    return this.call<ActionStatus>('GET', actionUrl, `/${encodeURIComponent(actionId)}/status`);
  }

  cancel(actionUrl: string, actionId: string): Promise<ActionStatus> {
    return this.call<ActionStatus>('POST', actionUrl, `/${encodeURIComponent(actionId)}/cancel`, {});
  }

  release(actionUrl: string, actionId: string): Promise<ActionStatus> {
    return this.call<ActionStatus>('POST', actionUrl, `/${encodeURIComponent(actionId)}/release`, {});
  }

  private async call<T>(method: string, actionUrl: string, suffix: string, body?: unknown): Promise<T> {
    const url = `${actionUrl.replace(/\/+$/, '')}${suffix}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const token = typeof this.options.token === 'function' ? this.options.token(actionUrl) : this.options.token;
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await this.fetch(url, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: keep the text for the error message.
    }
    if (!response.ok) throw new ActionProviderError(url, response.status, parsed);
    return parsed as T;
  }
}
