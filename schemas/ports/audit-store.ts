/**
 * Where the audit log's events are kept: append, list newest first, prune by age. The embedded
 * adapter is a SQLite file in the data folder (one hub); the PostgreSQL adapter is one table every
 * replica writes to, so `GET /api/v1/audit` shows every replica's events. What goes in (refusals
 * aggregated per client and minute, no secrets) is decided above the store, in the AuditLog service.
 */
import { Type, type Static } from '@sinclair/typebox';

export const AUDIT_ACTIONS = ['publish', 'withdraw', 'sharing', 'token.create', 'token.revoke', 'denied', 'sign-in', 'sign-out', 'identity.link', 'webhook.create', 'webhook.delete'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AuditEvent = Type.Object(
  {
    seq: Type.Integer(),
    at: Type.String(),
    action: Type.Union(AUDIT_ACTIONS.map((a) => Type.Literal(a))),
    /** The user, `anonymous`, or `local` (the CLI acting on the data folder). */
    actor: Type.String(),
    token_id: Type.Optional(Type.String()),
    /** What was acted on: `owner/name[@version]`, a token id, or `METHOD /path` for a denial. */
    target: Type.Optional(Type.String()),
    status: Type.Optional(Type.Integer()),
    ip: Type.Optional(Type.String()),
    detail: Type.Optional(Type.Unknown()),
  },
  { $id: 'AuditEvent' },
);
export type AuditEvent = Static<typeof AuditEvent>;
export type NewAuditEvent = Omit<AuditEvent, 'seq' | 'at'>;

export interface AuditQuery {
  limit?: number;
  /** Only events with a seq below this (paging backwards from the newest). */
  before?: number;
  action?: AuditAction;
  actor?: string;
}

export interface AuditStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Appends one event that happened at `at` (ms since the epoch); seq grows with every append. */
  append(event: NewAuditEvent, at: number): Promise<void>;
  /** Newest first (highest seq first), at most `limit` (1..1000, default 100). */
  list(query?: AuditQuery): Promise<AuditEvent[]>;
  /** Deletes the events that happened before `cutoff`; answers how many. */
  prune(cutoff: Date): Promise<number>;
  close(): Promise<void>;
}

/** The page size a query asks for, bounded as the route bounds it. */
export const auditLimit = (query: AuditQuery): number => Math.max(1, Math.min(query.limit ?? 100, 1000));
