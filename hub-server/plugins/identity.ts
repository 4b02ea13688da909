/**
 * Who is calling, and what they did. Every request gets `request.viewer` (and `request.token`)
 * before its handler runs; routes ask `requireReader` / `requireRunner` / `requirePublisher` /
 * `requireAdmin` rather than reading headers themselves. A bad token (unknown, expired, revoked,
 * malformed) is a 401 on every route, also under MODELHUB_AUTH=open, where anonymous callers may
 * publish as the owner they name (a laptop) but a given token is still checked.
 *
 * The token store (`tokens.db`) and the audit log (`audit.db`) live in the data folder and are
 * opened here; refusals (401/403) are audited as they leave.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HubError } from '../errors.ts';
import type { Viewer } from '../ports/search-index.ts';
import type { TokenInfo, TokenScope, TokenStore } from '../ports/token-store.ts';
import { SqliteTokenStore } from '../adapters/sqlite-token-store.ts';
import { AuditLog, type NewAuditEvent } from '../services/audit-log.ts';
import { hasScope, viewerOf } from '../services/access.ts';

declare module 'fastify' {
  interface FastifyRequest {
    viewer: Viewer;
    /** The token the request came with; null when anonymous (or resolved by a custom resolver). */
    token: TokenInfo | null;
  }
  interface FastifyInstance {
    tokens: TokenStore;
    audit: AuditLog;
    /** Resolve the caller of a request (used by plugins registered outside this one's hooks). */
    identify(request: FastifyRequest): Promise<Viewer>;
    /** identify, then requireRunner: the `identify` to give the Action Provider. */
    identifyRunner(request: FastifyRequest): Promise<Viewer>;
    /**
     * Throws 401/403 unless the caller may publish as (and withdraw, share servables of) `owner`;
     * without `owner`, only whether the caller may publish at all.
     */
    requirePublisher(request: FastifyRequest, owner?: string): void;
    /** Throws 401 unless the caller may read (anonymous reading can be switched off). */
    requireReader(request: FastifyRequest): void;
    /** Throws 401/403 unless the caller may run servables (a token needs the `run` scope). */
    requireRunner(request: FastifyRequest): void;
    /** Throws 401/403 unless the caller holds an `admin` token. */
    requireAdmin(request: FastifyRequest): void;
    /** Append to the audit log as this request's caller; never fails the request. */
    auditEvent(request: FastifyRequest, event: Omit<NewAuditEvent, 'actor' | 'token_id' | 'ip'>): void;
  }
}

/** Resolves a bearer token to a viewer instead of the token store (tests, other identity providers). */
export type TokenResolver = (token: string) => Promise<Viewer | undefined>;

interface Caller {
  viewer: Viewer;
  token: TokenInfo | null;
  /** undefined: anonymous; a custom resolver's callers hold every scope but admin unless it says so. */
  scopes?: readonly TokenScope[];
}

const callers = new WeakMap<FastifyRequest, Caller>();

async function identity(app: FastifyInstance, opts: { resolveToken?: TokenResolver }): Promise<void> {
  const config = app.hub.config;
  const tokens = SqliteTokenStore.open(SqliteTokenStore.fileIn(config.dataDir));
  const audit = AuditLog.open(AuditLog.fileIn(config.dataDir), { retentionDays: config.auditRetentionDays });
  app.decorate('tokens', tokens);
  app.decorate('audit', audit);
  app.addHook('onClose', async () => {
    await tokens.close();
    audit.close();
  });

  const resolve = async (request: FastifyRequest): Promise<Caller> => {
    const known = callers.get(request);
    if (known) return known;
    const header = request.headers.authorization;
    let caller: Caller;
    if (!header) {
      caller = { viewer: {}, token: null };
    } else {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match) throw new HubError('UNAUTHENTICATED', 'the Authorization header must be "Bearer <token>"');
      const secret = match[1]!;
      if (opts.resolveToken) {
        const viewer = await opts.resolveToken(secret);
        if (!viewer) throw new HubError('UNAUTHENTICATED', 'the token is unknown, expired or revoked');
        caller = { viewer, token: null, scopes: viewer.admin ? ['admin'] : ['read', 'run', 'publish'] };
      } else {
        const token = await tokens.verify(secret);
        if (!token) throw new HubError('UNAUTHENTICATED', 'the token is unknown, expired or revoked');
        caller = { viewer: viewerOf(token), token, scopes: token.scopes };
      }
    }
    callers.set(request, caller);
    return caller;
  };
  const callerOf = (request: FastifyRequest): Caller => callers.get(request) ?? { viewer: {}, token: null };

  app.decorateRequest('viewer', null as unknown as Viewer);
  app.decorateRequest('token', null);
  app.decorate('identify', async (request: FastifyRequest) => (await resolve(request)).viewer);
  app.addHook('onRequest', async (request) => {
    const caller = await resolve(request);
    request.viewer = caller.viewer;
    request.token = caller.token;
  });

  const requireScope = (request: FastifyRequest, scope: TokenScope, what: string) => {
    const caller = callerOf(request);
    if (caller.scopes === undefined) throw new HubError('UNAUTHENTICATED', `${what} needs a token with the ${scope} scope`);
    if (!hasScope(caller.scopes, scope)) throw new HubError('FORBIDDEN', `this token does not have the ${scope} scope (${what})`);
  };

  app.decorate('requireReader', (request: FastifyRequest) => {
    if (!config.anonymousRead && callerOf(request).scopes === undefined) {
      throw new HubError('UNAUTHENTICATED', 'this hub does not allow anonymous reading');
    }
  });
  app.decorate('requireRunner', (request: FastifyRequest) => {
    const caller = callerOf(request);
    if (caller.scopes === undefined) {
      if (!config.anonymousRead) throw new HubError('UNAUTHENTICATED', 'this hub does not allow anonymous runs');
      return;
    }
    requireScope(request, 'run', 'running a servable');
  });
  app.decorate('requirePublisher', (request: FastifyRequest, owner?: string) => {
    const caller = callerOf(request);
    if (caller.scopes === undefined && config.auth === 'open') return;
    requireScope(request, 'publish', 'publishing, withdrawing or sharing');
    if (owner !== undefined && !caller.viewer.admin && caller.viewer.user !== owner) {
      throw new HubError('FORBIDDEN', `${caller.viewer.user} may not publish or change servables of ${owner}`);
    }
  });
  app.decorate('requireAdmin', (request: FastifyRequest) => requireScope(request, 'admin', 'the admin API'));
  app.decorate('identifyRunner', async (request: FastifyRequest) => {
    const viewer = (await resolve(request)).viewer;
    app.requireRunner(request);
    return viewer;
  });

  app.decorate('auditEvent', (request: FastifyRequest, event: Omit<NewAuditEvent, 'actor' | 'token_id' | 'ip'>) => {
    const caller = callers.get(request);
    try {
      audit.record({
        ...event,
        actor: caller?.viewer.user ?? 'anonymous',
        ...(caller?.token ? { token_id: caller.token.id } : {}),
        ip: request.ip,
      });
    } catch (error) {
      request.log.error({ err: error, event }, 'could not write the audit log');
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode !== 401 && reply.statusCode !== 403) return;
    const presented = /^Bearer\s+(\S{1,9})/i.exec(request.headers.authorization ?? '')?.[1];
    app.auditEvent(request, {
      action: 'denied',
      target: `${request.method} ${request.url.split('?')[0]}`,
      status: reply.statusCode,
      ...(presented && !callers.has(request) ? { detail: { presented } } : {}),
    });
  });
}

export default fp(identity, { name: 'identity', dependencies: ['hub-services'], fastify: '5.x' });
