/**
 * API tokens: who a bearer token speaks for (a user and their groups) and what it may do (scopes).
 * Only a hash of each secret is stored; the secret is shown once, when the token is created.
 * The store also remembers who started each task, so that a task's result reaches only them.
 */
import { Type, type Static } from '@sinclair/typebox';
import { GROUP_PATTERN, OWNER_PATTERN } from '../metadata.ts';

/**
 * `read`: see public servables and those shared with the user (every token may do this);
 * `run`: run servables (hub API, v2 infer, Action Provider); `publish`: publish, withdraw and
 * change the sharing of the user's own servables; `admin`: everything, for every owner.
 */
export const TOKEN_SCOPES = ['read', 'run', 'publish', 'admin'] as const;
export const TokenScope = Type.Union(TOKEN_SCOPES.map((s) => Type.Literal(s)));
export type TokenScope = Static<typeof TokenScope>;

export const USER_PATTERN = OWNER_PATTERN;
export { GROUP_PATTERN };

/** What the hub says about a token: never its secret. */
export const TokenInfo = Type.Object(
  {
    id: Type.String({ description: 'public id, used to revoke' }),
    user: Type.String(),
    groups: Type.Array(Type.String()),
    scopes: Type.Array(TokenScope),
    label: Type.Optional(Type.String()),
    /** The first characters of the secret, to tell tokens apart. */
    prefix: Type.String(),
    created_at: Type.String(),
    created_by: Type.Optional(Type.String()),
    expires_at: Type.Optional(Type.String()),
    revoked_at: Type.Optional(Type.String()),
    last_used_at: Type.Optional(Type.String()),
  },
  { $id: 'TokenInfo' },
);
export type TokenInfo = Static<typeof TokenInfo>;

export interface NewToken {
  user: string;
  groups?: string[];
  scopes: TokenScope[];
  label?: string;
  /** ISO date-time; undefined: never expires. */
  expires_at?: string;
  /** Who asked for it (a user, or `local` for the CLI acting on the data folder). */
  created_by?: string;
}

export interface CreatedToken {
  /** The secret, `mh_...`: shown once, never stored. */
  token: string;
  info: TokenInfo;
}

/**
 * A federated identity (an OpenID Connect `iss` + `sub`, or a Globus Auth identity id under Globus
 * Auth's issuer) linked to a hub user: first sign-in creates the link, and with it the user.
 */
export interface IdentityLink {
  issuer: string;
  subject: string;
  user: string;
  /** The groups the identity provider gave at the latest sign-in (hub group names). */
  groups: string[];
  created_at: string;
  last_seen_at: string;
}

export interface NewIdentityLink {
  issuer: string;
  subject: string;
  user: string;
  groups?: string[];
  /**
   * `claim`: first sign-in; refused (CONFLICT) when the user name already belongs to any other
   * identity, so two people whose names normalise alike never share an account.
   * `link`: the user is already authenticated as `user` and adds one more identity.
   */
  mode: 'claim' | 'link';
}

export interface TokenStore {
  create(token: NewToken): Promise<CreatedToken>;
  /** The token of this secret if it is known, not revoked and not expired; records its use. */
  verify(secret: string): Promise<TokenInfo | undefined>;
  get(id: string): Promise<TokenInfo | undefined>;
  /** Newest first; revoked tokens too (they say so). */
  list(filter?: { user?: string }): Promise<TokenInfo[]>;
  /** Revoke; returns the token as it is now, or undefined if there is no such id. */
  revoke(id: string): Promise<TokenInfo | undefined>;
  /**
   * Replicas on PostgreSQL: from now on, tokens verified here are kept for `ttlMs` so that an
   * authenticated run asks the database nothing; the caller (which hears revocations made on other
   * replicas) must call `forgetVerified` for each. Stores without it always read.
   */
  cacheVerified?(ttlMs: number): void;
  /** A token revoked elsewhere (by id), or everything (undefined: revocations may have been missed). */
  forgetVerified?(id?: string): void;

  /**
   * Link an identity to a user, or refresh the groups of an existing link. CONFLICT when the
   * identity is linked to another user, or (mode `claim`) the name is taken by another identity.
   */
  linkIdentity(link: NewIdentityLink): Promise<IdentityLink>;
  findIdentity(issuer: string, subject: string): Promise<IdentityLink | undefined>;
  /** Every identity linked to a user, oldest first. */
  identitiesOf(user: string): Promise<IdentityLink[]>;

  /** Remember who started a task (`null`: an anonymous caller). */
  setTaskCreator(taskId: string, user: string | null): Promise<void>;
  /** undefined: not recorded; null: anonymous. */
  getTaskCreator(taskId: string): Promise<string | null | undefined>;
  close(): Promise<void>;
}
