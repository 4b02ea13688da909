/**
 * The browser side of a sign-in: the session cookie (an `mh_` token of the token store, labelled
 * as a web sign-in, so that it expires, is revoked at sign-out and is shared by every replica like
 * any token), its CSRF token, and the short-lived signed cookie that carries the PKCE verifier,
 * state and nonce from `/auth/login` to `/auth/callback`.
 *
 * Cookies are HttpOnly and SameSite=Lax (sent on the provider's top-level redirect back, not on
 * cross-site posts), and Secure when the hub's public URL is https.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'modelhub_session';
export const SIGN_IN_COOKIE = 'modelhub_sign_in';
export const SESSION_LABEL = 'web sign-in';
export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = 'csrf_token';
const SIGN_IN_SECONDS = 600;

/** The value of one cookie of a Cookie header (RFC 6265 section 5.4), or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index < 0 || part.slice(0, index).trim() !== name) continue;
    const value = part.slice(index + 1).trim().replace(/^"(.*)"$/, '$1');
    try {
      return decodeURIComponent(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export interface CookieOptions {
  maxAgeSeconds: number;
  secure: boolean;
  path?: string;
}

export function cookieHeader(name: string, value: string, options: CookieOptions): string {
  return [
    `${name}=${encodeURIComponent(value)}`,
    `Path=${options.path ?? '/'}`,
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`,
    'HttpOnly',
    'SameSite=Lax',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}

export const clearCookieHeader = (name: string, secure: boolean, path = '/') => cookieHeader(name, '', { maxAgeSeconds: 0, secure, path });

/**
 * The CSRF token of a session: derived from its secret, so every replica computes the same one
 * and a page that cannot read the HttpOnly cookie gets it from `GET /api/v1/whoami`.
 */
export const csrfTokenOf = (sessionSecret: string): string => createHmac('sha256', sessionSecret).update('modelhub csrf').digest('base64url');

export function sameSecret(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export interface SignInState {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** A path on this hub to return to. */
  returnTo: string;
  /** Seconds since the epoch. */
  expires: number;
}

/** Sign-in state travels in a cookie, HMAC-signed with a key derived from the client secret. */
export class SignInCookie {
  private readonly key: Buffer;

  constructor(clientSecret: string) {
    this.key = createHash('sha256').update(`modelhub sign-in state\0${clientSecret}`).digest();
  }

  readonly maxAgeSeconds = SIGN_IN_SECONDS;

  seal(state: Omit<SignInState, 'expires'>): string {
    const body = Buffer.from(JSON.stringify({ ...state, expires: Math.floor(Date.now() / 1000) + SIGN_IN_SECONDS })).toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  /** The state, or undefined when the cookie is missing, forged or stale. */
  open(value: string | undefined): SignInState | undefined {
    if (!value) return undefined;
    const [body, signature] = value.split('.');
    if (!body || !signature || !sameSecret(signature, this.sign(body))) return undefined;
    try {
      const state = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as SignInState;
      return state.expires > Date.now() / 1000 ? state : undefined;
    } catch {
      return undefined;
    }
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

/** Only a path on this hub: never `//other.host` or a full URL (an open redirect). */
export function safeReturnPath(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\') || value.length > 2000) return '/';
  return value;
}
