/**
 * Signing in from a program: `whoami`, and the device authorization grant (RFC 8628) through the
 * hub, which holds the OpenID client's secret. `deviceSignIn` yields the code to show the person,
 * then the tokens once they have approved it in a browser; `refreshSignIn` renews an access token.
 */
import { apiUrl, hubJson, jsonBody, type HubParams } from '../http.ts';
import { HubApiError } from '../errors.ts';
import { sleep } from '../sleep.ts';

export interface WhoAmI {
  user: string | null;
  groups: string[];
  admin: boolean;
  identities: string[];
  token_kind: 'anonymous' | 'api-token' | 'session' | 'oidc' | 'globus' | 'custom';
  scopes: string[];
  expires_at?: string;
  csrf_token?: string;
  sign_in: { oidc: boolean; url?: string };
}

export interface DeviceCode {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval: number;
}

export interface SignInTokens {
  access_token: string;
  token_type: string;
  expires_in?: number;
  refresh_token?: string;
  /** The hub user the identity maps to. */
  user?: string;
}

export type DeviceSignInEvent = { type: 'code'; code: DeviceCode } | { type: 'signed-in'; tokens: SignInTokens };

/** `GET /whoami`: who the token (or no token) is, and whether the hub offers sign-in. */
export function whoami(params: HubParams): Promise<WhoAmI> {
  return hubJson<WhoAmI>(params, apiUrl(params, '/whoami'));
}

const oauthError = (error: unknown) =>
  error instanceof HubApiError ? ((error.details as { oauth_error?: string } | undefined)?.oauth_error ?? undefined) : undefined;

/** The device grant, start to end: the code to show, then the tokens (polling at the interval the provider asks). */
export async function* deviceSignIn(params: HubParams): AsyncGenerator<DeviceSignInEvent> {
  const anonymous = { ...params, accessToken: undefined };
  const code = await hubJson<DeviceCode>(anonymous, apiUrl(params, '/auth/device'), { method: 'POST' });
  yield { type: 'code', code };
  let interval = Math.max(1, code.interval) * 1000;
  const deadline = Date.now() + code.expires_in * 1000;
  while (Date.now() < deadline) {
    await sleep(interval, params.signal);
    try {
      const tokens = await hubJson<SignInTokens>(anonymous, apiUrl(params, '/auth/token'), {
        method: 'POST',
        ...jsonBody({ grant_type: 'device_code', device_code: code.device_code }),
      });
      yield { type: 'signed-in', tokens };
      return;
    } catch (error) {
      const reason = oauthError(error);
      if (reason === 'authorization_pending') continue;
      if (reason === 'slow_down') {
        interval += 5000;
        continue;
      }
      throw error;
    }
  }
  throw new HubApiError({ status: 0, code: 'MODELHUB_CLIENT_ERROR', message: 'the sign-in code expired before it was approved', url: apiUrl(params, '/auth/token') });
}

/** A new access token for a refresh token. */
export function refreshSignIn(params: HubParams & { refreshToken: string }): Promise<SignInTokens> {
  return hubJson<SignInTokens>({ ...params, accessToken: undefined }, apiUrl(params, '/auth/token'), {
    method: 'POST',
    ...jsonBody({ grant_type: 'refresh_token', refresh_token: params.refreshToken }),
  });
}
