/**
 * `/api/v1/endpoints`: register, list, show and delete compute endpoints; the WebSocket their
 * agents connect to; and the files of servable versions, by digest, that an agent fetches with its
 * endpoint token. Visibility follows use-cases/access.ts: an endpoint its viewer may not use answers
 * exactly as one that does not exist.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Type } from '@sinclair/typebox';
import { WebSocketServer } from 'ws';
import { HubError } from '../../schemas/errors.ts';
import type { EndpointRecord, EndpointStore } from '../../schemas/ports/endpoint-store.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import { assertEndpointMayRun, canManage, endpointMayRun, canUseEndpoint } from '../use-cases/access.ts';
import { EndpointDispatcher } from '../use-cases/endpoint-dispatcher.ts';
import type { RemoteRunner } from '../../schemas/ports/run-service.ts';
import { ErrorDocument } from '../../schemas/api.ts';
import {
  ENDPOINT_CONNECT_PATH,
  ENDPOINT_TOKEN_HEADER,
  EndpointDocument,
  EndpointParams,
  RegisterEndpointRequest,
  RegisteredEndpoint,
  type EndpointDocument as EndpointDocumentType,
} from '../../schemas/endpoints.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

declare module 'fastify' {
  interface FastifyInstance {
    endpoints: { store: EndpointStore; dispatcher: EndpointDispatcher };
  }
}

const SHA256 = '^[0-9a-f]{64}$';

export interface EndpointRoutesOptions {
  heartbeatMs?: number;
}

async function endpointRoutes(hub: FastifyInstance, opts: EndpointRoutesOptions): Promise<void> {
  // Requests typed by their route schemas (TypeBox), so handlers read params and bodies without casts.
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  const { config, gateway, blobs } = app.hub;
  const store = app.hub.endpointStore;
  const dispatcher = new EndpointDispatcher({
    store,
    heartbeatMs: opts.heartbeatMs ?? config.endpointHeartbeatMs,
    defaultDeadlineMs: config.gateway.defaultDeadlineMs,
    log: app.log,
  });
  app.decorate('endpoints', { store, dispatcher });

  // Runs naming an endpoint go there; a run naming none goes to the servable's default endpoint
  // when it has one and the caller may use it, else the hub runs it.
  const remote: RemoteRunner = async (document, methodName, call, viewer) => {
    let endpoint: EndpointRecord | undefined;
    if (call.endpoint !== undefined) {
      endpoint = await dispatcher.resolve(call.endpoint, viewer);
      assertEndpointMayRun(endpoint, document);
    } else if (document.servable.options?.endpoint) {
      endpoint = await dispatcher.resolve(document.servable.options.endpoint, viewer).catch(() => undefined);
      // A default endpoint that may not run this version is passed over: the hub runs it.
      if (endpoint && !endpointMayRun(endpoint, document)) endpoint = undefined;
    }
    if (!endpoint) return undefined;
    return { ...(await dispatcher.run(endpoint, document, methodName, call)), endpoint: `${endpoint.owner}/${endpoint.name}` };
  };
  gateway.remote = remote;

  const view = (record: EndpointRecord, viewer: Viewer): EndpointDocumentType => ({
    endpoint: `${record.owner}/${record.name}`,
    owner: record.owner,
    name: record.name,
    status: dispatcher.isOnline(record.owner, record.name) ? 'online' : 'offline',
    last_seen: record.last_seen_at ?? null,
    executor: record.executor,
    resources: record.resources,
    ...dispatcher.counts(record.owner, record.name),
    created_at: record.created_at,
    ...(canManage(record.owner, viewer) ? { shared_with: record.shared_with } : {}),
  });

  const visible = async (request: { params: { owner: string; name: string }; viewer: FastifyRequest['viewer'] }): Promise<EndpointRecord> => {
    const { owner, name } = request.params;
    const record = await store.get(owner, name);
    if (!record || !canUseEndpoint(record, request.viewer)) throw new HubError('ENDPOINT_NOT_FOUND', `${owner}/${name}`);
    return record;
  };

  const errors = { 400: ErrorDocument, 401: ErrorDocument, 403: ErrorDocument, 404: ErrorDocument };

  app.post('/endpoints', {
    schema: { summary: 'Register a compute endpoint (or re-register it with a new token)', tags: ['endpoints'], body: RegisterEndpointRequest, response: { 200: RegisteredEndpoint, 201: RegisteredEndpoint, ...errors } },
    handler: async (request, reply) => {
      app.requireRunner(request);
      const owner = request.viewer.user;
      if (owner === undefined) throw new HubError('UNAUTHENTICATED', 'registering an endpoint needs a user token');
      const body = request.body;
      const existed = (await store.get(owner, body.name)) !== undefined;
      const { endpoint, token } = await store.register({
        owner,
        name: body.name,
        owner_groups: request.viewer.groups ?? [],
        executor: body.executor ?? 'local',
        resources: body.resources ?? {},
        ...(body.shared_with ? { shared_with: body.shared_with } : {}),
      });
      // A new token revokes the old one: an agent still connected with it is dropped.
      if (existed) dispatcher.drop(owner, body.name);
      return reply.code(existed ? 200 : 201).send({ ...view(endpoint, request.viewer), token });
    },
  });

  app.get('/endpoints', {
    schema: {
      summary: 'The compute endpoints the caller may use',
      tags: ['endpoints'],
      querystring: Type.Object({ owner: Type.Optional(Type.String({ pattern: EndpointParams.properties.owner.pattern })) }),
      response: { 200: Type.Object({ items: Type.Array(EndpointDocument) }), ...errors },
    },
    handler: async (request) => {
      const { owner } = request.query;
      const records = await store.list(owner ? { owner } : {});
      return { items: records.filter((record) => canUseEndpoint(record, request.viewer)).map((record) => view(record, request.viewer)) };
    },
  });

  app.get('/endpoints/:owner/:name', {
    schema: { summary: 'One compute endpoint', tags: ['endpoints'], params: EndpointParams, response: { 200: EndpointDocument, ...errors } },
    handler: async (request) => view(await visible(request), request.viewer),
  });

  app.delete('/endpoints/:owner/:name', {
    schema: { summary: 'Delete a compute endpoint (its owner or an admin)', tags: ['endpoints'], params: EndpointParams, response: { 200: EndpointDocument, ...errors } },
    handler: async (request) => {
      app.requireRunner(request);
      const record = await visible(request);
      if (!canManage(record.owner, request.viewer)) throw new HubError('FORBIDDEN', `only ${record.owner} may delete ${record.owner}/${record.name}`);
      await store.delete(record.owner, record.name);
      dispatcher.drop(record.owner, record.name);
      return view(record, request.viewer);
    },
  });

  // An agent fetches a version's file by digest, with its endpoint token, and only from versions
  // that the endpoint's owner may see (and so run): the token of a shared endpoint never reaches
  // the files of the servables of those it is shared with unless its owner may see them too.
  app.get('/endpoints/:owner/:name/files/:sha256', {
    schema: {
      summary: 'A servable file for an endpoint agent (endpoint token)',
      tags: ['endpoints'],
      params: Type.Object({ ...EndpointParams.properties, sha256: Type.String({ pattern: SHA256 }) }),
      querystring: Type.Object({ servable: Type.String({ maxLength: 200 }), version: Type.Integer({ minimum: 1 }) }),
    },
    handler: async (request, reply) => {
      const { owner, name, sha256 } = request.params;
      const { servable, version } = request.query;
      const token = request.headers[ENDPOINT_TOKEN_HEADER];
      const endpoint = typeof token === 'string' ? await store.byToken(token) : undefined;
      if (!endpoint) throw new HubError('UNAUTHENTICATED', `the ${ENDPOINT_TOKEN_HEADER} header must carry an endpoint's token`);
      if (endpoint.owner !== owner || endpoint.name !== name) throw new HubError('FORBIDDEN', `this token belongs to another endpoint than ${owner}/${name}`);
      const [servableOwner, servableName] = servable.split('/');
      if (!servableOwner || !servableName) throw new HubError('BAD_REQUEST', `servable must be owner/name: ${servable}`);
      const document = await gateway.describe({ owner: servableOwner, name: servableName, version }, { user: endpoint.owner, groups: endpoint.owner_groups });
      if (!document.hub.files.some((file) => file.sha256 === sha256)) throw new HubError('FORBIDDEN', `${servable}@${version} has no file ${sha256}`);
      return reply.type('application/octet-stream').send(await blobs.get(sha256));
    },
  });

  // The agents' WebSocket: authenticated by the endpoint token before the upgrade is accepted.
  const sockets = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024 * 1024 });
  const refuse = (socket: Duplex, status: number, text: string) => {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  };
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if ((request.url ?? '').split('?')[0] !== ENDPOINT_CONNECT_PATH) return refuse(socket, 404, 'Not Found');
    const token = request.headers[ENDPOINT_TOKEN_HEADER];
    void (typeof token === 'string' ? store.byToken(token) : Promise.resolve(undefined)).then(
      (endpoint) => {
        if (!endpoint) return refuse(socket, 401, 'Unauthorized');
        sockets.handleUpgrade(request, socket, head, (ws) => dispatcher.attach(ws, endpoint));
      },
      () => refuse(socket, 503, 'Service Unavailable'),
    );
  };
  app.server.on('upgrade', onUpgrade);
  app.addHook('preClose', async () => {
    app.server.off('upgrade', onUpgrade);
    dispatcher.close();
    for (const client of sockets.clients) client.terminate();
    sockets.close();
  });
}

export default fp(endpointRoutes, { name: 'endpoint-routes', dependencies: ['hub-services', 'identity'], fastify: '5.x' });
