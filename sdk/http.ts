/**
 * What every operation shares: where the hub is, the token, and the `fetch` to use (injectable, as
 * in huggingface.js, so tests and other runtimes can supply their own).
 */
import { CLIENT_ERROR_CODES, HubApiError, createApiError } from './errors.ts';

export interface HubParams {
  /** Base URL of the hub, e.g. `http://127.0.0.1:8700`. */
  hubUrl: string;
  /** Sent as `Authorization: Bearer <token>`. */
  accessToken?: string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

export const API_PREFIX = '/api/v1';

export function apiUrl(params: HubParams, path: string, query?: URLSearchParams): string {
  const base = params.hubUrl.replace(/\/+$/, '');
  const search = query && [...query.keys()].length > 0 ? `?${query.toString()}` : '';
  return `${base}${API_PREFIX}${path}${search}`;
}

/** fetch, with the token added, network failures and non-2xx replies turned into HubApiError. */
export async function hubFetch(params: HubParams, url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (params.accessToken && !headers.has('authorization')) {
    headers.set('authorization', `Bearer ${params.accessToken}`);
  }
  if (!headers.has('accept')) headers.set('accept', 'application/json');
  const doFetch = params.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await doFetch(url, { ...init, headers, signal: init.signal ?? params.signal });
  } catch (error) {
    if ((error as Error)?.name === 'AbortError') throw error;
    const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
    throw new HubApiError({
      status: 0,
      code: CLIENT_ERROR_CODES.connectionFailed,
      message: `Cannot reach the hub at ${url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
      url,
      cause: error,
    });
  }
  if (!response.ok) throw await createApiError(response);
  return response;
}

export async function hubJson<T>(params: HubParams, url: string, init: RequestInit = {}): Promise<T> {
  const response = await hubFetch(params, url, init);
  return (await response.json()) as T;
}

export function jsonBody(value: unknown): Pick<RequestInit, 'body' | 'headers'> {
  return { body: JSON.stringify(value), headers: { 'content-type': 'application/json' } };
}
