/**
 * API tokens, identity links and task creators in PostgreSQL: a token made on one replica verifies
 * on every other, and a revocation anywhere takes effect on the next request everywhere. A hub
 * replica keeps the tokens it verified for a short while (cacheVerified), so that an authenticated
 * run reads nothing from the database; a revocation is announced with NOTIFY and every replica's
 * change feed drops the token at once (all of them when the feed reconnects, as notifications may
 * have been missed). Secrets are made and hashed exactly as in the embedded store.
 */
import { randomBytes } from 'node:crypto';
import { HubError } from '../../schemas/errors.ts';
import type { CreatedToken, IdentityLink, NewIdentityLink, NewToken, TokenInfo, TokenScope, TokenStore } from '../../schemas/ports/token-store.ts';
import type { PostgresDatabase } from './postgres-database.ts';
import { TOKEN_PREFIX, hashSecret, laterThan } from './sqlite-token-store.ts';

const SECRET_PATTERN = /^mh_[A-Za-z0-9_-]{43}$/;
/** Writing last_used_at on every request would make every authenticated read a write. */
const LAST_USED_RESOLUTION_MS = 60_000;

interface TokenRow {
  id: string;
  hash: string;
  prefix: string;
  user_name: string;
  groups: string[];
  scopes: TokenScope[];
  label: string | null;
  created_at: string;
  created_by: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

interface IdentityRow {
  issuer: string;
  subject: string;
  user_name: string;
  groups: string[];
  created_at: string;
  last_seen_at: string;
}

function toInfo(row: TokenRow): TokenInfo {
  const info: TokenInfo = { id: row.id, user: row.user_name, groups: row.groups, scopes: row.scopes, prefix: row.prefix, created_at: row.created_at };
  if (row.label !== null) info.label = row.label;
  if (row.created_by !== null) info.created_by = row.created_by;
  if (row.expires_at !== null) info.expires_at = row.expires_at;
  if (row.revoked_at !== null) info.revoked_at = row.revoked_at;
  if (row.last_used_at !== null) info.last_used_at = row.last_used_at;
  return info;
}

const toLink = (row: IdentityRow): IdentityLink => ({
  issuer: row.issuer,
  subject: row.subject,
  user: row.user_name,
  groups: row.groups,
  created_at: row.created_at,
  last_seen_at: row.last_seen_at,
});

/**
 * Revocations (the token's id) and identity-link changes (`user:<name>`) are announced here, so that
 * every replica drops what it cached at once.
 */
export const TOKEN_REVOCATIONS_CHANNEL = 'modelhub_token_revocations';
const userKey = (user: string) => `user:${user}`;

export class PostgresTokenStore implements TokenStore {
  /** Tokens verified on this replica, by hash (cacheVerified): the row as read, until when it is trusted. */
  private readonly verified = new Map<string, { row: TokenRow; until: number }>();
  /** The identity links of users whose tokens were verified here (every authenticated request reads them). */
  private readonly links = new Map<string, { links: IdentityLink[]; until: number }>();
  private verifiedTtlMs = 0;

  private constructor(private readonly db: PostgresDatabase) {}

  static async open(db: PostgresDatabase): Promise<PostgresTokenStore> {
    await db.migrate();
    return new PostgresTokenStore(db.share());
  }

  async create(input: NewToken): Promise<CreatedToken> {
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const row: TokenRow = {
      id: `tok_${randomBytes(8).toString('hex')}`,
      hash: hashSecret(token),
      prefix: token.slice(0, TOKEN_PREFIX.length + 6),
      user_name: input.user,
      groups: [...new Set(input.groups ?? [])].sort(),
      scopes: [...new Set(input.scopes)].sort(),
      label: input.label ?? null,
      created_at: new Date().toISOString(),
      created_by: input.created_by ?? null,
      expires_at: input.expires_at ?? null,
      revoked_at: null,
      last_used_at: null,
    };
    await this.db.query(
      `INSERT INTO tokens (id, hash, prefix, user_name, groups, scopes, label, created_at, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [row.id, row.hash, row.prefix, row.user_name, JSON.stringify(row.groups), JSON.stringify(row.scopes), row.label, row.created_at, row.created_by, row.expires_at],
      'create a token',
    );
    return { token, info: toInfo(row) };
  }

  cacheVerified(ttlMs: number): void {
    this.verifiedTtlMs = ttlMs;
    if (ttlMs <= 0) this.forgetVerified();
  }

  forgetVerified(id?: string): void {
    if (id === undefined) {
      this.verified.clear();
      this.links.clear();
    } else if (id.startsWith('user:')) {
      this.links.delete(id.slice('user:'.length));
    } else {
      for (const [hash, entry] of this.verified) if (entry.row.id === id) this.verified.delete(hash);
    }
  }

  async verify(secret: string): Promise<TokenInfo | undefined> {
    if (!SECRET_PATTERN.test(secret)) return undefined;
    const hash = hashSecret(secret);
    const now = new Date();
    const cached = this.verifiedTtlMs > 0 ? this.verified.get(hash) : undefined;
    // A token verified moments ago (and not revoked since: forgetVerified) needs no database read.
    if (cached && cached.until > now.getTime() && (cached.row.expires_at === null || Date.parse(cached.row.expires_at) > now.getTime())) return toInfo(cached.row);
    this.verified.delete(hash);
    const { rows } = await this.db.query<TokenRow>('SELECT * FROM tokens WHERE hash = $1', [hash], 'verify a token');
    const row = rows[0];
    if (!row || row.revoked_at !== null) return undefined;
    if (row.expires_at !== null && Date.parse(row.expires_at) <= now.getTime()) return undefined;
    if (this.verifiedTtlMs > 0) this.verified.set(hash, { row, until: now.getTime() + this.verifiedTtlMs });
    if (row.last_used_at === null || now.getTime() - Date.parse(row.last_used_at) >= LAST_USED_RESOLUTION_MS) {
      row.last_used_at = now.toISOString();
      // Recording the use must not turn a valid token away if the write fails; the next use records it.
      await this.db.query('UPDATE tokens SET last_used_at = $1 WHERE id = $2', [row.last_used_at, row.id]).catch(() => undefined);
    }
    return toInfo(row);
  }

  async get(id: string): Promise<TokenInfo | undefined> {
    const { rows } = await this.db.query<TokenRow>('SELECT * FROM tokens WHERE id = $1', [id], 'read a token');
    return rows[0] ? toInfo(rows[0]) : undefined;
  }

  async list(filter: { user?: string } = {}): Promise<TokenInfo[]> {
    const { rows } =
      filter.user === undefined
        ? await this.db.query<TokenRow>('SELECT * FROM tokens ORDER BY created_at DESC, id', [], 'list tokens')
        : await this.db.query<TokenRow>('SELECT * FROM tokens WHERE user_name = $1 ORDER BY created_at DESC, id', [filter.user], 'list tokens');
    return rows.map(toInfo);
  }

  async revoke(id: string): Promise<TokenInfo | undefined> {
    this.forgetVerified(id);
    await this.db.transaction(async (client) => {
      await client.query('UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [new Date().toISOString(), id]);
      // Delivered at commit to every replica listening (the change feed): each drops it from its cache.
      await client.query('SELECT pg_notify($1, $2)', [TOKEN_REVOCATIONS_CHANNEL, id]);
    }, 'revoke a token');
    return this.get(id);
  }

  async linkIdentity(input: NewIdentityLink): Promise<IdentityLink> {
    const link = await this.storeLink(input);
    // Every replica's cached links of this user are dropped (here at once, elsewhere by NOTIFY).
    this.forgetVerified(userKey(input.user));
    await this.db.query('SELECT pg_notify($1, $2)', [TOKEN_REVOCATIONS_CHANNEL, userKey(input.user)], 'announce an identity link');
    return link;
  }

  private async storeLink(input: NewIdentityLink): Promise<IdentityLink> {
    const now = new Date().toISOString();
    const groups = [...new Set(input.groups ?? [])].sort();
    return this.db.transaction(async (client) => {
      // Two first sign-ins racing for one name, on any replicas, queue here: only one can claim it.
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('modelhub identity user ' || $1))`, [input.user]);
      const found = await client.query<IdentityRow>('SELECT * FROM identity_links WHERE issuer = $1 AND subject = $2 FOR UPDATE', [input.issuer, input.subject]);
      const existing = found.rows[0];
      if (existing) {
        if (existing.user_name !== input.user) throw new HubError('CONFLICT', `this identity is already linked to the user ${existing.user_name}`);
        const updated = { ...existing, groups: input.groups === undefined ? existing.groups : groups, last_seen_at: now };
        await client.query('UPDATE identity_links SET groups = $1, last_seen_at = $2 WHERE issuer = $3 AND subject = $4', [
          JSON.stringify(updated.groups),
          now,
          input.issuer,
          input.subject,
        ]);
        return toLink(updated);
      }
      if (input.mode === 'claim') {
        const taken = await client.query('SELECT 1 FROM identity_links WHERE user_name = $1 LIMIT 1', [input.user]);
        if (taken.rowCount) throw new HubError('CONFLICT', `the user name ${input.user} already belongs to another identity`);
      }
      // Under the user's advisory lock, so the order of a user's identities is the order of linking.
      const latest = await client.query<{ at: string | null }>('SELECT MAX(created_at) AS at FROM identity_links WHERE user_name = $1', [input.user]);
      const row: IdentityRow = { issuer: input.issuer, subject: input.subject, user_name: input.user, groups, created_at: laterThan(latest.rows[0]?.at, now), last_seen_at: now };
      try {
        await client.query(
          'INSERT INTO identity_links (issuer, subject, user_name, groups, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)',
          [row.issuer, row.subject, row.user_name, JSON.stringify(row.groups), row.created_at, row.last_seen_at],
        );
      } catch (error) {
        // The same identity linked at the same moment to another user, by another replica.
        if ((error as { code?: unknown }).code === '23505') throw new HubError('CONFLICT', 'this identity was just linked to another user', { cause: error });
        throw error;
      }
      return toLink(row);
    }, 'link an identity');
  }

  async findIdentity(issuer: string, subject: string): Promise<IdentityLink | undefined> {
    const { rows } = await this.db.query<IdentityRow>('SELECT * FROM identity_links WHERE issuer = $1 AND subject = $2', [issuer, subject], 'read an identity');
    return rows[0] ? toLink(rows[0]) : undefined;
  }

  async identitiesOf(user: string): Promise<IdentityLink[]> {
    const cached = this.verifiedTtlMs > 0 ? this.links.get(user) : undefined;
    if (cached && cached.until > Date.now()) return cached.links.map((link) => ({ ...link, groups: [...link.groups] }));
    const { rows } = await this.db.query<IdentityRow>(
      'SELECT * FROM identity_links WHERE user_name = $1 ORDER BY created_at, issuer, subject',
      [user],
      'list identities',
    );
    const links = rows.map(toLink);
    if (this.verifiedTtlMs > 0) this.links.set(user, { links, until: Date.now() + this.verifiedTtlMs });
    return links;
  }

  async setTaskCreator(taskId: string, user: string | null): Promise<void> {
    await this.db.query(
      'INSERT INTO task_creators (task_id, user_name) VALUES ($1, $2) ON CONFLICT (task_id) DO UPDATE SET user_name = excluded.user_name',
      [taskId, user],
      'record a task creator',
    );
  }

  async getTaskCreator(taskId: string): Promise<string | null | undefined> {
    const { rows } = await this.db.query<{ user_name: string | null }>('SELECT user_name FROM task_creators WHERE task_id = $1', [taskId], 'read a task creator');
    return rows[0] ? rows[0].user_name : undefined;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
