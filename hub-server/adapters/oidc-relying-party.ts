/**
 * The hub as an OpenID Connect relying party (`openid-client` for the flows, `jose` for access
 * tokens): the web sign-in (authorization code + PKCE), the device authorization grant the CLI
 * uses through the hub (the client secret never leaves the hub), refresh, and the validation of
 * bearer JWT access tokens against the issuer's JWKS (signature, iss, aud, exp, nbf, clock skew;
 * a key the cached set lacks makes jose fetch the set again, so a rotation is followed).
 *
 * Discovery is lazy and retried: a hub starts while its issuer is down, and every request that
 * needs the issuer meanwhile is a 503 (BACKEND_UNAVAILABLE), never an anonymous pass.
 */
import * as client from 'openid-client';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { HubError, InvalidTokenError } from '../../schemas/errors.ts';

/** Its settings, read by hub-server/config.ts (MODELHUB_OIDC_*). */
export interface OidcConfig {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The claim that names the hub user (`preferred_username`, `email`: its local part, `sub`...). */
  userClaim: string;
  /** The claim that lists the user's groups (`groups`, `eduPersonEntitlement`...). */
  groupsClaim: string;
  /** Members of this group are hub admins. */
  adminGroup?: string;
  clockSkewSeconds: number;
  /** The scopes asked for at sign-in (add `offline_access` for refresh tokens where the provider wants it). */
  scopes: string;
  /** How long a web sign-in lasts. */
  sessionSeconds: number;
}

/** Asymmetric algorithms only: an HMAC "signed" with the public key, and `none`, never verify. */
const ACCEPTED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** jose fetches the key set again for an unknown `kid` at most this often (a flood of made-up kids stays cheap). */
const JWKS_COOLDOWN_MS = 5_000;

export interface OidcTokens {
  access_token: string;
  token_type: string;
  expires_in?: number;
  refresh_token?: string;
  id_token?: string;
  scope?: string;
}

export interface SignInStart {
  url: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface DeviceStart {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval: number;
}

/** Claims of a signed-in identity: what identity mapping reads. */
export type IdentityClaims = Record<string, unknown> & { sub: string; iss?: string };

const isLoopback = (url: URL) => ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);

export class OidcRelyingParty {
  private discovered?: Promise<client.Configuration>;
  private jwks?: ReturnType<typeof createRemoteJWKSet>;

  constructor(
    readonly settings: OidcConfig,
    private readonly redirectUri: string,
  ) {}

  get issuer(): string {
    return this.settings.issuer;
  }

  /** The issuer's metadata, discovered once; a failed discovery is retried by the next request. */
  async configuration(): Promise<client.Configuration> {
    this.discovered ??= (async () => {
      const issuer = new URL(this.settings.issuer);
      // openid-client refuses plain http; a loopback issuer (a test or a laptop) is allowed it.
      const execute = issuer.protocol === 'http:' && isLoopback(issuer) ? [client.allowInsecureRequests] : [];
      const configuration = await client.discovery(
        issuer,
        this.settings.clientId,
        { client_secret: this.settings.clientSecret, redirect_uris: [this.redirectUri], response_types: ['code'] },
        client.ClientSecretBasic(this.settings.clientSecret),
        { execute, timeout: 10 },
      );
      configuration.timeout = 10;
      return configuration;
    })();
    try {
      return await this.discovered;
    } catch (error) {
      this.discovered = undefined;
      throw unavailable(error, `the OpenID provider ${this.settings.issuer} cannot be reached`);
    }
  }

  private async keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (this.jwks) return this.jwks;
    const metadata = (await this.configuration()).serverMetadata();
    if (!metadata.jwks_uri) throw new HubError('BACKEND_UNAVAILABLE', `the OpenID provider ${this.settings.issuer} publishes no jwks_uri`);
    this.jwks = createRemoteJWKSet(new URL(metadata.jwks_uri), { cooldownDuration: JWKS_COOLDOWN_MS, timeoutDuration: 10_000 });
    return this.jwks;
  }

  /**
   * The claims of a valid access token for this hub (audience = the client id). Throws
   * InvalidTokenError with the reason, or BACKEND_UNAVAILABLE when the issuer cannot be reached.
   */
  async verifyAccessToken(token: string): Promise<IdentityClaims> {
    const keys = await this.keySet();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: (await this.configuration()).serverMetadata().issuer,
        audience: this.settings.clientId,
        algorithms: ACCEPTED_ALGORITHMS,
        clockTolerance: this.settings.clockSkewSeconds,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (error) {
      throw tokenError(error);
    }
    // An ID token has the same audience; it proves a sign-in to the client, it does not authorise calls.
    if (payload.nonce !== undefined || payload.typ === 'ID') throw new InvalidTokenError('an ID token is not an access token');
    return payload as IdentityClaims;
  }

  /** The authorization request of a web sign-in (code flow with PKCE S256, state and nonce). */
  async startSignIn(): Promise<SignInStart> {
    const configuration = await this.configuration();
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: this.redirectUri,
      scope: this.scopes(),
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.href, state, nonce, codeVerifier };
  }

  /** The redirect back from the provider: the code exchanged, the ID token checked; its claims. */
  async finishSignIn(callbackUrl: URL, checks: { state: string; nonce: string; codeVerifier: string }): Promise<{ claims: IdentityClaims; tokens: OidcTokens }> {
    const configuration = await this.configuration();
    try {
      const response = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
      const claims = { ...(response.claims() as IdentityClaims) };
      return { claims: await this.withUserInfo(configuration, response.access_token, claims), tokens: tokensOf(response) };
    } catch (error) {
      throw grantError(error, 'the sign-in');
    }
  }

  /** RFC 8628: the code a person types at the provider's verification page. */
  async startDevice(): Promise<DeviceStart> {
    const configuration = await this.configuration();
    try {
      const response = await client.initiateDeviceAuthorization(configuration, { scope: this.scopes() });
      return {
        device_code: response.device_code,
        user_code: response.user_code,
        verification_uri: response.verification_uri,
        ...(response.verification_uri_complete ? { verification_uri_complete: response.verification_uri_complete } : {}),
        expires_in: response.expires_in,
        interval: response.interval ?? 5,
      };
    } catch (error) {
      throw grantError(error, 'the device authorization');
    }
  }

  /**
   * One poll of the device grant: the tokens, or a BAD_REQUEST whose details say
   * `authorization_pending` / `slow_down` (the CLI polls on) or why it ended.
   */
  async pollDevice(deviceCode: string): Promise<{ claims: IdentityClaims; tokens: OidcTokens }> {
    const configuration = await this.configuration();
    try {
      const response = await client.genericGrantRequest(configuration, DEVICE_CODE_GRANT, { device_code: deviceCode });
      const idClaims = response.claims() as IdentityClaims | undefined;
      const claims = idClaims ? { ...idClaims } : await this.verifyAccessToken(response.access_token);
      return { claims: await this.withUserInfo(configuration, response.access_token, claims), tokens: tokensOf(response) };
    } catch (error) {
      throw grantError(error, 'the device authorization');
    }
  }

  async refresh(refreshToken: string): Promise<OidcTokens> {
    const configuration = await this.configuration();
    try {
      return tokensOf(await client.refreshTokenGrant(configuration, refreshToken));
    } catch (error) {
      throw grantError(error, 'the refresh');
    }
  }

  private scopes(): string {
    return this.settings.scopes;
  }

  /**
   * Providers that keep the ID token small (conformant ones put profile claims only in userinfo)
   * lack the user or groups claim there; userinfo fills them in where it answers.
   */
  private async withUserInfo(configuration: client.Configuration, accessToken: string, claims: IdentityClaims): Promise<IdentityClaims> {
    const { userClaim, groupsClaim } = this.settings;
    const userField = userClaim === 'email' ? 'email' : userClaim;
    if (claims[userField] !== undefined && claims[groupsClaim] !== undefined) return claims;
    if (!configuration.serverMetadata().userinfo_endpoint) return claims;
    try {
      const info = await client.fetchUserInfo(configuration, accessToken, claims.sub);
      return { ...info, ...claims } as IdentityClaims;
    } catch {
      // An access token meant for an API rather than userinfo: the ID token's claims stand.
      return claims;
    }
  }
}

function tokensOf(response: client.TokenEndpointResponse): OidcTokens {
  return {
    access_token: response.access_token,
    token_type: response.token_type,
    ...(response.expires_in === undefined ? {} : { expires_in: response.expires_in }),
    ...(response.refresh_token ? { refresh_token: response.refresh_token } : {}),
    ...(response.id_token ? { id_token: response.id_token } : {}),
    ...(response.scope ? { scope: response.scope } : {}),
  };
}

function unavailable(error: unknown, what: string): HubError {
  if (error instanceof HubError) return error;
  return new HubError('BACKEND_UNAVAILABLE', `${what} (${(error as Error).message})`, { cause: error, retryAfter: 5 });
}

/** A provider's refusal of a grant (RFC 6749 section 5.2) is the client's; a provider that does not answer is a 503. */
function grantError(error: unknown, what: string): HubError {
  if (error instanceof HubError) return error;
  if (error instanceof client.ResponseBodyError || error instanceof client.AuthorizationResponseError) {
    const oauthError = error.error;
    return new HubError('BAD_REQUEST', `${what} was refused: ${oauthError}${error.error_description ? ` (${error.error_description})` : ''}`, {
      details: { oauth_error: oauthError },
      cause: error,
    });
  }
  if (error instanceof client.ClientError) {
    return new HubError('UNAUTHENTICATED', `${what} did not verify: ${error.message}`, { cause: error });
  }
  return unavailable(error, `${what} could not reach the OpenID provider`);
}

/** jose's verdicts in words for the WWW-Authenticate header; a JWKS that cannot be fetched is a 503. */
function tokenError(error: unknown): HubError {
  if (error instanceof joseErrors.JWTExpired) return new InvalidTokenError('the token expired');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'aud':
        return new InvalidTokenError('the token is for another audience');
      case 'iss':
        return new InvalidTokenError('the token comes from another issuer');
      case 'nbf':
        return new InvalidTokenError('the token is not valid yet');
      default:
        return new InvalidTokenError(`the token's ${error.claim} claim is not acceptable`);
    }
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return new InvalidTokenError('the token signature does not verify');
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new InvalidTokenError('the token is signed with an algorithm this hub does not accept');
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new InvalidTokenError('the token is signed with a key the issuer does not publish');
  }
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JOSENotSupported) {
    return new InvalidTokenError('the token is not a valid signed JWT');
  }
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid || !(error instanceof joseErrors.JOSEError)) {
    return unavailable(error, 'the OpenID provider\'s keys cannot be fetched');
  }
  return new InvalidTokenError(`the token did not verify (${(error as Error).message})`);
}
