/* global fetch, localStorage */
// The hub API as the pages use it: same origin, the visitor's token (if any) as a bearer token,
// and the hub's error document `{error: {code, message, details}}` turned into an ApiError.

const TOKEN_KEY = 'modelhub.token';

export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

// A web sign-in travels as an HttpOnly cookie; every change the page asks for carries the session's
// CSRF token (from /whoami), which another site cannot read.
let csrfToken = '';
export function setCsrfToken(token) {
  csrfToken = token ?? '';
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const API = '/api/v1';

/**
 * fetch with the token; resolves to the parsed JSON (or the text with `{ text: true }`), rejects
 * with an ApiError carrying the hub's code.
 */
export async function api(path, { method = 'GET', body, text = false, signal } = {}) {
  const headers = { accept: text ? '*/*' : 'application/json' };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  else if (csrfToken && method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrfToken;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (error) {
    if (error?.name === 'AbortError') throw error;
    throw new ApiError(0, 'NETWORK_ERROR', `The hub did not answer (${error?.message ?? error}).`);
  }
  const raw = await response.text();
  if (!response.ok) {
    let document;
    try {
      document = JSON.parse(raw);
    } catch {
      document = undefined;
    }
    const error = document?.error;
    if (error && typeof error === 'object') throw new ApiError(response.status, error.code ?? `HTTP_${response.status}`, error.message ?? response.statusText, error.details);
    throw new ApiError(response.status, `HTTP_${response.status}`, typeof error === 'string' ? error : raw.slice(0, 500) || response.statusText);
  }
  if (text) return raw;
  return raw ? JSON.parse(raw) : undefined;
}

export const servablePath = (owner, name, version) =>
  `${API}/servables/${encodeURIComponent(owner)}/${encodeURIComponent(name)}${version ? `/versions/${version}` : ''}`;
