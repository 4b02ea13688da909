/**
 * Builds the hub as a fastify app; `server.ts` only listens. Tests build it and use `inject()` or
 * listen on a free port. Three tiers: infrastructure (multipart, swagger), domain services
 * (hub-services, identity), and route groups.
 */
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { HubConfig } from './config.ts';
import { HubError, toHubError, type ErrorName } from '../schemas/errors.ts';
import { checkJsonDepth } from '../schemas/codecs/tensors.ts';
import path from 'node:path';
import hubServices from './plugins/hub-services.ts';
import { openActionStore } from './composition-root.ts';
import identity, { type TokenResolver } from './plugins/identity.ts';
import rateLimit from './plugins/rate-limit.ts';
import replicaJobs from './plugins/replica-jobs.ts';
import actionsPlugin from './routes/actions.ts';
import { authApiRoutes, signInRoutes } from './routes/auth.ts';
import citationRoutes from './routes/citation.ts';
import collectionRoutes from './routes/collections.ts';
import downloadRoutes from './routes/download.ts';
import endpointRoutes from './routes/endpoints.ts';
import batchRoutes from './routes/batch.ts';
import identifierRoutes from './routes/identifiers.ts';
import landingRoutes from './routes/landing.ts';
import operationsRoutes from './routes/operations.ts';
import runRoutes from './routes/run.ts';
import runRecordRoutes from './routes/runs.ts';
import reproducibilityRoutes from './routes/reproducibility.ts';
import usageRoutes from './routes/usage.ts';
import webhookRoutes from './routes/webhooks.ts';
import searchRoutes from './routes/search.ts';
import servablesRoutes from './routes/servables.ts';
import taskRoutes from './routes/tasks.ts';
import tokenRoutes from './routes/tokens.ts';
import v2Routes from './routes/v2.ts';

export interface BuildAppOptions {
  logger?: FastifyServerOptions['logger'];
  resolveToken?: TokenResolver;
}

const isV2 = (url: string) => url === '/v2' || url.startsWith('/v2/');

/** Fastify's own errors (validation, body parsing, multipart limits) in the hub's catalog. */
function catalogError(error: FastifyError & { validation?: { instancePath: string; message?: string }[] }, maxUploadBytes: number): HubError {
  if (error instanceof HubError) return error;
  if (error.validation) {
    const details = error.validation.map((v) => ({ path: v.instancePath || '/', message: v.message ?? 'is invalid' }));
    return new HubError('BAD_REQUEST', error.message, { details });
  }
  switch (error.code) {
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new HubError('PAYLOAD_TOO_LARGE', `${Math.round(maxUploadBytes / 1024 / 1024)} MB (MODELHUB_MAX_UPLOAD_MB)`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new HubError('UNSUPPORTED_MEDIA_TYPE', error.message);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HubError('BAD_REQUEST', error.message);
  }
  if (error instanceof SyntaxError) return new HubError('BAD_REQUEST', error.message);
  // Plugins' own client errors (a 403 from @fastify/static for a path that climbs out of its
  // folder, a 404 for a missing file) keep their status under the catalog code that has it.
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500) return new HubError(CLIENT_ERRORS[status] ?? 'BAD_REQUEST', error.message);
  return toHubError(error);
}

const CLIENT_ERRORS: Record<number, ErrorName> = {
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'ROUTE_NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

/**
 * A request that never became one (a request line or header Node's parser refuses, bytes that are
 * not HTTP): answered on the socket itself, with the hub's error body, and the socket closed.
 */
function answerClientError(error: Error & { code?: string; rawPacket?: unknown }, socket: import('node:net').Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const timeout = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const hubError = new HubError('BAD_REQUEST', timeout ? 'the request did not arrive in time' : `not a valid HTTP request (${error.code ?? error.message})`);
  // The protocol's own error body where the request line shows it was meant for /v2.
  const packet = Buffer.isBuffer(error.rawPacket) ? error.rawPacket.toString('latin1') : '';
  const target = packet.split('\r\n', 1)[0]?.split(' ')[1] ?? '';
  const body = JSON.stringify(isV2(target) ? { error: hubError.message } : hubError.toJSON());
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${timeout ? '408 Request Timeout' : '400 Bad Request'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

export async function buildApp(config: HubConfig, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel },
    bodyLimit: 64 * 1024 * 1024,
    // Runs and publishes can take a while; the gateway's deadlines bound them, not the socket.
    requestTimeout: 0,
    // ... but a connection that goes quiet (a body promised and never sent) is closed after 5 minutes.
    connectionTimeout: 300_000,
    ajv: { customOptions: { allErrors: true, coerceTypes: 'array', removeAdditional: false } },
    // One line per request is noise at info level; debug and trace keep them.
    logController: new LogController({ disableRequestLogging: config.logLevel !== 'debug' && config.logLevel !== 'trace' }),
    clientErrorHandler: answerClientError,
    // URLs the router cannot decode (`%ff`, a lone `%`) or path segments over its length limit.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const hubError = new HubError('BAD_REQUEST', error.message);
      if (isV2(request.url)) return reply.code(hubError.status).send({ error: hubError.message });
      return reply.code(hubError.status).send(hubError.toJSON());
    },
  });

  app.setErrorHandler((rawError: FastifyError, request, reply) => {
    const error = catalogError(rawError, config.maxUploadBytes);
    if (error.status >= 500 && error.code !== 'MODELHUB_OVERLOADED') request.log.error({ err: rawError }, error.message);
    if (error.retryAfter) reply.header('retry-after', String(error.retryAfter));
    if (isV2(request.url)) return reply.code(error.status).send({ error: error.message });
    return reply.code(error.status).send(error.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const message = `${request.method} ${request.url.split('?')[0]}`;
    if (isV2(request.url)) return reply.code(404).send({ error: `no route ${message}` });
    return reply.code(404).send(new HubError('ROUTE_NOT_FOUND', message).toJSON());
  });

  // No route takes plain text: a body sent as text/plain is a 415, not JSON by another name.
  app.removeContentTypeParser('text/plain');
  // Code that walks request bodies recurses; a body nested deeper than any real input (a 100k-level
  // array) is refused here, once for every route, before a handler can overflow the stack on it.
  app.addHook('preHandler', async (request) => {
    const body = request.body;
    if (typeof body === 'object' && body !== null && !ArrayBuffer.isView(body)) checkJsonDepth(body);
    // ajv coerces "1e400" to Infinity and then skips the range checks of a non-finite number.
    for (const values of [request.query, request.params]) {
      if (typeof values !== 'object' || values === null) continue;
      for (const [key, value] of Object.entries(values)) {
        if (typeof value === 'number' && !Number.isFinite(value)) throw new HubError('BAD_REQUEST', `${key} must be a finite number`);
      }
    }
  });

  // Binary inference bodies (the v2 binary tensor extension) arrive whole as a Buffer.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: config.maxUploadBytes }, (_request, body, done) => done(null, body));

  await app.register(swagger, {
    openapi: {
      info: { title: 'modelhub', description: 'Publish, identify, search, cite and serve scientific models.', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(multipart, {
    limits: { fileSize: config.maxUploadBytes, files: 10_000, fields: 20, fieldSize: 16 * 1024 * 1024, parts: 10_100 },
  });

  await app.register(hubServices, { config });
  await app.register(identity, { resolveToken: options.resolveToken });
  await app.register(rateLimit);
  await app.register(replicaJobs); // PostgreSQL mode: work any replica can finish

  app.addHook('onResponse', async (request, reply) => {
    app.hub.metrics.httpSeconds.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(
    async (api) => {
      await api.register(servablesRoutes);
      await api.register(runRoutes);
      await api.register(runRecordRoutes);
      await api.register(reproducibilityRoutes);
      await api.register(webhookRoutes);
      await api.register(usageRoutes);
      await api.register(taskRoutes);
      await api.register(searchRoutes);
      await api.register(identifierRoutes);
      await api.register(citationRoutes);
      await api.register(collectionRoutes);
      await api.register(downloadRoutes);
      await api.register(tokenRoutes);
      await api.register(authApiRoutes);
      await api.register(endpointRoutes);
      await api.register(batchRoutes);
    },
    { prefix: '/api/v1' },
  );
  await app.register(landingRoutes);
  await app.register(signInRoutes);
  await app.register(v2Routes);
  await app.register(actionsPlugin, {
    prefix: '/actions',
    runService: app.hub.gateway,
    dataDir: path.join(config.dataDir, 'actions'),
    // PostgreSQL mode: actions in the shared database, so every replica finds them.
    store: await openActionStore(config, app.hub.database, path.join(config.dataDir, 'actions')),
    resumeInterrupted: !config.databaseUrl,
    // ... where they are jobs instead: another replica resumes an action whose replica died.
    ...(app.jobs ? { jobs: app.jobs } : {}),
    // A token given to the Action Provider needs the run scope, as for every other way to run.
    identify: (request) => app.identifyRunner(request),
    publicUrl: config.publicUrl,
    ...(config.globus ? { globusAuthScope: config.globus.scope } : {}),
    allowAnonymous: config.anonymousRead,
  });
  await app.register(operationsRoutes);
  await app.register(import('./routes/web.ts')); // the web catalogue: /, /models/{owner}/{name}, /tasks/{id}, /assets/
  return app;
}
