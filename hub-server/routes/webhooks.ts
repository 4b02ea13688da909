/**
 * Webhooks over HTTP (docs/webhooks.md): `POST /webhooks` registers a URL for events on an owner's
 * servables (the owner or an admin; the secret is in that reply only), `GET /webhooks[?owner=]`
 * lists them, `GET|DELETE /webhooks/{id}` reads or removes one, `GET /webhooks/{id}/deliveries` is
 * its delivery log. A webhook the caller may not manage answers as an unknown one.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ErrorDocument } from '../../schemas/api.ts';
import { HubError } from '../../schemas/errors.ts';
import { OWNER_PATTERN } from '../../schemas/metadata.ts';
import { CreatedWebhook, CreateWebhookRequest, Delivery, WebhookInfo } from '../../schemas/webhooks.ts';
import type { DeliveryRecord, WebhookRecord } from '../../schemas/ports/webhook-store.ts';
import { HUB_EVENTS } from '../use-cases/hub-events.ts';

const IdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });
const errors = { 400: ErrorDocument, 401: ErrorDocument, 403: ErrorDocument, 404: ErrorDocument, 409: ErrorDocument };

const infoOf = ({ secret: _secret, ...info }: WebhookRecord) => info;
const deliveryOf = ({ payload, webhook_id: _webhook, next_attempt_at, ...delivery }: DeliveryRecord) => ({
  ...delivery,
  next_attempt_at: delivery.state === 'pending' ? next_attempt_at : null,
  payload: JSON.parse(payload) as unknown,
});

export default async function webhookRoutes(hub: FastifyInstance): Promise<void> {
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  const service = hub.hub.webhooks;

  /** Whether the caller may manage `owner`'s webhooks: the rule of publishing as them. */
  const mayManage = (request: FastifyRequest, owner: string): boolean => {
    try {
      hub.requirePublisher(request, owner);
      return true;
    } catch {
      return false;
    }
  };
  const manageable = async (request: FastifyRequest, id: string): Promise<WebhookRecord> => {
    const webhook = await service.store.get(id);
    if (!webhook || !mayManage(request, webhook.owner)) throw new HubError('WEBHOOK_NOT_FOUND', id);
    return webhook;
  };
  const tags = ['webhooks'];

  app.post('/webhooks', {
    schema: { summary: "Register a webhook for events on an owner's servables (the secret is in this reply only)", tags, body: CreateWebhookRequest, response: { 201: CreatedWebhook, ...errors } },
    handler: async (request, reply) => {
      const body = request.body;
      const owner = body.owner ?? request.viewer.user;
      // Anonymous: a 401 where publishing needs a token, before asking for the owner.
      if (owner === undefined) hub.requirePublisher(request);
      if (owner === undefined) throw new HubError('BAD_REQUEST', 'name the owner whose servables the webhook is for ("owner")');
      hub.requirePublisher(request, owner);
      const webhook = await service.register({
        owner,
        name: body.name ?? null,
        url: body.url,
        events: body.events ?? [...HUB_EVENTS],
        ...(body.secret === undefined ? {} : { secret: body.secret }),
        ...(body.description === undefined ? {} : { description: body.description }),
        created_by: request.viewer.user ?? 'anonymous',
      });
      // Where the hub is told to send requests is worth a record (the URL; never the secret).
      hub.auditEvent(request, { action: 'webhook.create', target: webhook.id, status: 201, detail: { owner, name: webhook.name, url: webhook.url, events: webhook.events } });
      reply.code(201);
      return { ...infoOf(webhook), secret: webhook.secret };
    },
  });

  app.get('/webhooks', {
    schema: { summary: "The webhooks on an owner's servables (default: the caller's; every one for an admin)", tags, querystring: Type.Object({ owner: Type.Optional(Type.String({ pattern: OWNER_PATTERN })) }), response: { 200: Type.Object({ webhooks: Type.Array(WebhookInfo) }), ...errors } },
    handler: async (request) => {
      const owner = request.query.owner ?? (request.viewer.admin ? undefined : request.viewer.user);
      if (owner === undefined && !request.viewer.admin) hub.requirePublisher(request);
      if (owner === undefined && !request.viewer.admin) throw new HubError('BAD_REQUEST', 'name the owner whose webhooks to list (?owner=)');
      if (owner !== undefined) hub.requirePublisher(request, owner);
      else hub.requireAdmin(request);
      return { webhooks: (await service.store.list(owner)).map(infoOf) };
    },
  });

  app.get('/webhooks/:id', {
    schema: { summary: 'One webhook', tags, params: IdParams, response: { 200: WebhookInfo, ...errors } },
    handler: async (request) => infoOf(await manageable(request, request.params.id)),
  });

  app.delete('/webhooks/:id', {
    schema: { summary: 'Remove a webhook with its delivery log', tags, params: IdParams, response: { 204: Type.Null(), ...errors } },
    handler: async (request, reply) => {
      const webhook = await manageable(request, request.params.id);
      await service.store.delete(webhook.id);
      hub.auditEvent(request, { action: 'webhook.delete', target: webhook.id, status: 204, detail: { owner: webhook.owner, url: webhook.url } });
      reply.code(204);
      return null;
    },
  });

  app.get('/webhooks/:id/deliveries', {
    schema: {
      summary: "A webhook's delivery log, newest first",
      tags,
      params: IdParams,
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }),
      response: { 200: Type.Object({ deliveries: Type.Array(Delivery) }), ...errors },
    },
    handler: async (request) => {
      const webhook = await manageable(request, request.params.id);
      return { deliveries: (await service.store.deliveries(webhook.id, request.query.limit ?? 100)).map(deliveryOf) };
    },
  });
}
