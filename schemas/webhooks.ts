/**
 * Webhooks and usage over HTTP (docs/webhooks.md, docs/usage.md): the request and reply documents
 * the hub's routes and the SDK share.
 */
import { Type, type Static } from '@sinclair/typebox';
import { NAME_PATTERN, OWNER_PATTERN } from './metadata.ts';

/** The servable events a webhook can ask for (the hub raises them: hub-server/use-cases/hub-events.ts). */
export const WEBHOOK_EVENTS = ['servable.published', 'servable.build_failed', 'servable.withdrawn', 'identifier.minted', 'drift.detected'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

const EventName = Type.Union(WEBHOOK_EVENTS.map((event) => Type.Literal(event)));

export const CreateWebhookRequest = Type.Object(
  {
    url: Type.String({ maxLength: 2000, description: 'http(s) URL the deliveries are POSTed to' }),
    events: Type.Optional(Type.Array(EventName, { minItems: 1, uniqueItems: true, description: 'default: every event' })),
    owner: Type.Optional(Type.String({ pattern: OWNER_PATTERN, description: "whose servables; default: the caller's" })),
    name: Type.Optional(Type.String({ pattern: NAME_PATTERN, description: "one servable of the owner's; default: all of them" })),
    secret: Type.Optional(Type.String({ minLength: 16, maxLength: 200, description: 'the HMAC-SHA256 key; default: one the hub makes' })),
    description: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

export const WebhookInfo = Type.Object({
  id: Type.String(),
  owner: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  url: Type.String(),
  events: Type.Array(Type.String()),
  description: Type.Union([Type.String(), Type.Null()]),
  created_by: Type.String(),
  created_at: Type.String(),
  state: Type.Union([Type.Literal('active'), Type.Literal('failing')]),
  failing_since: Type.Union([Type.String(), Type.Null()]),
});
export const CreatedWebhook = Type.Composite([WebhookInfo, Type.Object({ secret: Type.String({ description: 'the signing key: shown only now' }) })]);
export const Delivery = Type.Object({
  id: Type.String(),
  event: Type.String(),
  state: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  created_at: Type.String(),
  next_attempt_at: Type.Union([Type.String(), Type.Null()]),
  last_attempt_at: Type.Union([Type.String(), Type.Null()]),
  last_status: Type.Union([Type.Integer(), Type.Null()]),
  last_error: Type.Union([Type.String(), Type.Null()]),
  delivered_at: Type.Union([Type.String(), Type.Null()]),
  payload: Type.Unknown({ description: 'the JSON body sent' }),
});

export type CreateWebhookRequest = Static<typeof CreateWebhookRequest>;
export type WebhookInfo = Static<typeof WebhookInfo>;
export type CreatedWebhook = Static<typeof CreatedWebhook>;
export type Delivery = Static<typeof Delivery>;

const Counts = {
  runs: Type.Integer(),
  errors: Type.Integer(),
  distinct_callers: Type.Integer({ description: 'signed-in callers, counted by a salted hash; anonymous runs are counted apart' }),
  anonymous_runs: Type.Integer(),
  mean_latency_ms: Type.Union([Type.Number(), Type.Null()]),
};
export const UsageReply = Type.Object({
  servable: Type.String(),
  version: Type.Union([Type.Integer(), Type.Null()]),
  since: Type.String({ description: 'first day counted (UTC, YYYY-MM-DD)' }),
  totals: Type.Object(Counts),
  days: Type.Array(Type.Object({ day: Type.String(), version: Type.Integer(), ...Counts })),
});
export type UsageReply = Static<typeof UsageReply>;
