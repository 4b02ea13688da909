/**
 * The Globus Action Provider API (api_version 1.0): `/actions/inference` runs any servable named
 * in the body, `/actions/servables/{owner}/{name}` runs one servable and publishes its input
 * schema. Both answer introspection, run, status, cancel, release and log under the classic paths
 * and the newer `/actions` ones.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import {
  ActionEnumeration,
  ActionEnumerationQuery,
  ActionIdParams,
  ActionLog,
  ActionLogQuery,
  ActionRequest,
  ActionStatus,
  InferenceActionBody,
  ProviderDescription,
  type ActionStatusValue,
} from '../../schemas/actions.ts';
import { ErrorDocument, OwnerNameParams } from '../../schemas/api.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { ActionEngine, targetOf, toStatusDocument } from '../use-cases/actions/action-engine.ts';
import { SqliteActionStore } from '../adapters/sqlite-action-store.ts';
import type { ActionRecord, ActionStore } from '../../schemas/ports/action-store.ts';
import { servableActionInputSchema, type JsonSchema } from '../use-cases/actions/input-schema.ts';
import { durationSeconds, secondsToDuration } from '../use-cases/actions/iso-duration.ts';
import { creatorUrn, groupUrn, isAllowed, isAnonymous, principalsOf, userUrn } from '../use-cases/actions/principals.ts';
import { SchemaValidator } from '../use-cases/actions/schema-validator.ts';
import { HubError } from '../../schemas/errors.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import type { RunService, ServableRef } from '../../schemas/ports/run-service.ts';
import type { JobRunner } from '../use-cases/job-runner.ts';

export interface ActionsPluginOptions {
  runService: RunService;
  /** The SQLite file of actions goes here (unless `store` is given): actions survive restarts. */
  dataDir: string;
  /** Where actions live instead (PostgreSQL, shared by replicas); the plugin closes it. */
  store?: ActionStore;
  /** Run again at start what a stop left ACTIVE (default true; false where replicas share the store). */
  resumeInterrupted?: boolean;
  /** PostgreSQL mode: actions are jobs any replica resumes when the one running them dies. */
  jobs?: JobRunner;
  /** The caller; anonymous = {}. Throws HubError(UNAUTHENTICATED) for a bad token. */
  identify: (request: FastifyRequest) => Promise<Viewer>;
  publicUrl: string;
  /** The scope Globus Flows must request for this provider (Globus Auth's scope string, MODELHUB_GLOBUS_SCOPE). */
  globusAuthScope?: string;
  /** Whether callers without a token may start actions (default true, as the hub API allows). */
  allowAnonymous?: boolean;
  adminContact?: string;
  /** /run answers SUCCEEDED or FAILED at once for runs that end within this (default 1500 ms). */
  syncWaitMs?: number;
  /** Default and largest `release_after` (defaults P30D and P90D). */
  defaultReleaseAfter?: string;
  maximumReleaseAfter?: string;
  /** Largest deadline from now (default P7D). */
  maximumDeadline?: string;
  /** How often expired actions are released (default 60 s). */
  sweepIntervalMs?: number;
}

/**
 * The path parameters of every provider route. Both providers share one set of routes: the
 * per-servable one is mounted under `/servables/{owner}/{name}` and always has them, the inference
 * one has neither. Declared once (optional, with the same patterns as elsewhere) so that the
 * routes are typed by their schemas whichever provider they serve.
 */
const ProviderPath = Type.Object({
  owner: Type.Optional(OwnerNameParams.properties.owner),
  name: Type.Optional(OwnerNameParams.properties.name),
});
type ProviderPath = Static<typeof ProviderPath>;
const ProviderActionPath = Type.Object({ ...ProviderPath.properties, ...ActionIdParams.properties });

/** What differs between the two kinds of provider. */
interface ProviderKind {
  key(path: ProviderPath): string;
  describe(path: ProviderPath, viewer: Viewer): Promise<ProviderDescription>;
  /** Checks the body (400), the servable (404) and the caller's right to run it (403). */
  check(path: ProviderPath, body: Record<string, unknown>, viewer: Viewer): Promise<void>;
  /**
   * Before any action of this provider is looked up: a provider the caller may not see answers
   * exactly as an unknown one (404), so its replies never reveal that a private servable exists.
   */
  guard(path: ProviderPath, viewer: Viewer): Promise<void>;
}

/** The servable a per-servable provider's path names (its mount point guarantees both parts). */
function servableIn(path: ProviderPath): { owner: string; name: string } {
  if (path.owner === undefined || path.name === undefined) throw new Error('per-servable provider mounted without /servables/{owner}/{name}');
  return { owner: path.owner, name: path.name };
}

const errorReplies = {
  400: ErrorDocument,
  401: ErrorDocument,
  403: ErrorDocument,
  404: ErrorDocument,
  409: ErrorDocument,
};

export default async function actionsPlugin(app: FastifyInstance, opts: ActionsPluginOptions): Promise<void> {
  const store = opts.store ?? new SqliteActionStore(opts.dataDir);
  const engine = new ActionEngine(store, opts.runService, {
    syncWaitMs: opts.syncWaitMs ?? 1500,
    maxAttempts: 3,
    sweepIntervalMs: opts.sweepIntervalMs ?? 60_000,
    resumeInterrupted: opts.resumeInterrupted ?? true,
    ...(opts.jobs ? { jobs: opts.jobs } : {}),
  });
  opts.jobs?.handle('action', { run: (job) => engine.resume(job.job_id), abandon: (job, reason) => engine.abandon(job.job_id, reason) });
  app.addHook('onReady', async () => engine.start());
  app.addHook('onClose', async () => {
    await engine.close();
    await store.close();
  });

  // A request document that fails its schema is the specification's 400, in the hub's error body.
  app.setSchemaErrorFormatter((errors, dataVar) => {
    const problems = errors.map((e) => `${dataVar}${e.instancePath} ${e.message ?? 'is invalid'}`);
    return new HubError('BAD_REQUEST', problems.join('; '), { details: { problems } });
  });

  const validator = new SchemaValidator();
  const settings = {
    allowAnonymous: opts.allowAnonymous ?? true,
    adminContact: opts.adminContact ?? 'modelhub administrators',
    defaultReleaseAfter: durationSeconds(opts.defaultReleaseAfter ?? 'P30D'),
    maximumReleaseAfter: durationSeconds(opts.maximumReleaseAfter ?? 'P90D'),
    maximumDeadline: opts.maximumDeadline ?? 'P7D',
    publicUrl: opts.publicUrl.replace(/\/+$/, ''),
  };
  // Without Globus Auth configured there is no real scope; the placeholder names this hub.
  const scope = opts.globusAuthScope ?? `${settings.publicUrl}/actions/scopes/run`;

  const checkBody = (key: string, schema: JsonSchema, value: unknown, what: string) => {
    const problems = validator.check(key, schema, value);
    if (problems.length > 0) {
      throw new HubError(
        'BAD_REQUEST',
        `${what} does not fit the input_schema: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
        { details: { problems } },
      );
    }
  };

  /**
   * Whether the viewer may see this servable version (or some version, without one) now. A
   * withdrawn one still counts: its actions stay readable to those who could see it.
   */
  const seesServable = async (ref: ServableRef, viewer: Viewer): Promise<void> => {
    try {
      await opts.runService.describe(ref, viewer);
    } catch (error) {
      if (!(error instanceof HubError && error.code === 'MODELHUB_SERVABLE_WITHDRAWN')) throw error;
    }
  };

  /**
   * Access is checked again on every read of an action, not only at /run: once a share is revoked
   * (or the servable made private), its former sharer's old actions are unknown to them (404).
   */
  const mustStillSee = async (record: ActionRecord, viewer: Viewer): Promise<void> => {
    const target = targetOf(record.provider, record.request.body).ref;
    const ran = record.details.version;
    try {
      await seesServable({ ...target, version: typeof ran === 'number' ? ran : target.version }, viewer);
    } catch (error) {
      if (error instanceof HubError && error.status === 404) throw new HubError('ACTION_NOT_FOUND', record.actionId);
      throw error;
    }
  };

  const inference: ProviderKind = {
    key: () => 'inference',
    describe: async () => ({
      types: ['Action'],
      api_version: '1.0',
      title: 'modelhub inference',
      subtitle: 'Run any servable of this hub as a flow step',
      description:
        'Runs the servable named in the body (owner/name, optionally a version) on the inputs given and returns ' +
        'its output in the action details. Each servable also has its own provider at ' +
        `${settings.publicUrl}/actions/servables/{owner}/{name} whose input_schema is the servable's own.`,
      keywords: ['modelhub', 'inference', 'machine learning', 'model'],
      visible_to: ['public'],
      runnable_by: ['all_authenticated_users'],
      administered_by: [],
      admin_contact: settings.adminContact,
      globus_auth_scope: scope,
      synchronous: false,
      log_supported: true,
      maximum_deadline: settings.maximumDeadline,
      input_schema: InferenceActionBody as unknown as JsonSchema,
    }),
    guard: async () => undefined,
    check: async (_request, body, viewer) => {
      checkBody('inference-body', InferenceActionBody, body, 'body');
      const target = targetOf('inference', body);
      const document = await opts.runService.describe(target.ref, viewer);
      mustRun(document, viewer);
      checkBody(documentKey(document), servableActionInputSchema(document), { inputs: body.inputs }, 'body.inputs');
    },
  };

  const perServable: ProviderKind = {
    key: (path) => {
      const { owner, name } = servableIn(path);
      return `servables/${owner}/${name}`;
    },
    describe: async (path, viewer) => {
      const { owner, name } = servableIn(path);
      const document = await opts.runService.describe({ owner, name }, viewer);
      const title = document.datacite.titles[0]?.title ?? `${owner}/${name}`;
      const abstract = document.datacite.descriptions?.[0]?.description;
      const principals = sharedPrincipals(document);
      return {
        types: ['Action'],
        api_version: '1.0',
        title: title.slice(0, 128),
        subtitle: `${owner}/${name} (version ${document.hub.version}, ${document.servable.type})`.slice(0, 128),
        description: (abstract ?? `Runs the modelhub servable ${owner}/${name}.`).slice(0, 4096),
        keywords: ['modelhub', document.servable.type, ...(document.hub.domains ?? [])],
        visible_to: document.hub.visibility === 'public' ? ['public'] : principals,
        runnable_by: document.hub.visibility === 'public' ? ['all_authenticated_users'] : principals,
        administered_by: [userUrn(owner)],
        admin_contact: settings.adminContact,
        globus_auth_scope: scope,
        synchronous: false,
        log_supported: true,
        maximum_deadline: settings.maximumDeadline,
        input_schema: servableActionInputSchema(document),
      };
    },
    guard: async (path, viewer) => {
      await seesServable(servableIn(path), viewer);
    },
    check: async (path, body, viewer) => {
      const { owner, name } = servableIn(path);
      const version = typeof body.version === 'number' ? body.version : undefined;
      const document = await opts.runService.describe({ owner, name, version }, viewer);
      mustRun(document, viewer);
      checkBody(documentKey(document), servableActionInputSchema(document), body, 'body');
    },
  };

  const registerProvider = (scoped: FastifyInstance, kind: ProviderKind) => {
    // Requests typed by their route schemas (TypeBox), so handlers read params and bodies without casts.
    const scopeApp = scoped.withTypeProvider<TypeBoxTypeProvider>();
    const caller = async (request: FastifyRequest) => opts.identify(request);

    const load = async (request: FastifyRequest, path: Static<typeof ProviderActionPath>, access: 'monitor' | 'manage') => {
      const viewer = await caller(request);
      await kind.guard(path, viewer);
      const record = await engine.find(kind.key(path), path.action_id);
      await mustStillSee(record, viewer);
      const allowed = access === 'monitor' ? record.request.monitor_by ?? [] : record.request.manage_by ?? [];
      if (!isAllowed(viewer, record.creator, allowed)) {
        if (isAnonymous(viewer)) throw new HubError('UNAUTHENTICATED', `action ${path.action_id} is not anonymous`);
        throw new HubError('FORBIDDEN', `${creatorUrn(viewer)} is not in the ${access}_by of action ${path.action_id}`);
      }
      return { record, viewer };
    };

    scopeApp.get(
      '/',
      {
        schema: {
          summary: 'Introspect the Action Provider',
          tags: ['actions'],
          params: ProviderPath,
          response: { 200: ProviderDescription, ...errorReplies },
        },
      },
      async (request) => kind.describe(request.params, await caller(request)),
    );

    const run = async (request: FastifyRequest, path: ProviderPath, actionRequest: ActionRequest) => {
      const viewer = await caller(request);
      if (isAnonymous(viewer) && !settings.allowAnonymous) {
        throw new HubError('UNAUTHENTICATED', 'starting an action needs a token');
      }
      const releaseAfter =
        actionRequest.release_after === undefined
          ? settings.defaultReleaseAfter
          : durationSeconds(actionRequest.release_after);
      if (releaseAfter > settings.maximumReleaseAfter) {
        throw new HubError('BAD_REQUEST', `release_after is longer than ${secondsToDuration(settings.maximumReleaseAfter)}`);
      }
      if (actionRequest.deadline !== undefined) {
        const deadline = Date.parse(actionRequest.deadline);
        if (deadline <= Date.now()) throw new HubError('BAD_REQUEST', `deadline ${actionRequest.deadline} has passed`);
        if (deadline - Date.now() > durationSeconds(settings.maximumDeadline) * 1000) {
          throw new HubError('BAD_REQUEST', `deadline is beyond the maximum_deadline ${settings.maximumDeadline}`);
        }
      }
      await kind.check(path, actionRequest.body, viewer);
      return engine.submit({
        provider: kind.key(path),
        request: actionRequest,
        viewer,
        releaseAfterSeconds: releaseAfter,
      });
    };
    const runSchema = {
      summary: 'Start an action (idempotent on request_id)',
      tags: ['actions'],
      params: ProviderPath,
      body: ActionRequest,
      response: { 200: ActionStatus, 202: ActionStatus, ...errorReplies },
    };
    for (const url of ['/run', '/actions']) {
      scopeApp.post(url, { schema: runSchema }, async (request, reply) => {
        const { status, created } = await run(request, request.params, request.body);
        return reply.code(created ? 202 : 200).send(status);
      });
    }

    const statusSchema = {
      summary: 'The status of an action',
      tags: ['actions'],
      params: ProviderActionPath,
      response: { 200: ActionStatus, ...errorReplies },
    };
    for (const url of ['/:action_id/status', '/actions/:action_id']) {
      scopeApp.get(url, { schema: statusSchema }, async (request) =>
        toStatusDocument((await load(request, request.params, 'monitor')).record));
    }

    const cancelSchema = { ...statusSchema, summary: 'Cancel an action' };
    for (const url of ['/:action_id/cancel', '/actions/:action_id/cancel']) {
      scopeApp.post(url, { schema: cancelSchema }, async (request) => {
        const { record, viewer } = await load(request, request.params, 'manage');
        return engine.cancel(record, viewer);
      });
    }

    const releaseSchema = { ...statusSchema, summary: 'Release a completed action' };
    const release = async (request: FastifyRequest, path: Static<typeof ProviderActionPath>) =>
      engine.release((await load(request, path, 'manage')).record);
    scopeApp.post('/:action_id/release', { schema: releaseSchema }, async (request) => release(request, request.params));
    scopeApp.delete('/actions/:action_id', { schema: releaseSchema }, async (request) => release(request, request.params));

    const logSchema = {
      summary: 'The step log of an action',
      tags: ['actions'],
      params: ProviderActionPath,
      querystring: ActionLogQuery,
      response: { 200: ActionLog, ...errorReplies },
    };
    for (const url of ['/:action_id/log', '/actions/:action_id/log']) {
      scopeApp.get(url, { schema: logSchema }, async (request) => {
        const { record } = await load(request, request.params, 'monitor');
        const { limit = 100, marker } = request.query;
        const page = await engine.readLog(record, marker === undefined ? 0 : Number(marker), limit);
        // globus-action-provider-tools' ActionLogReturn (a PaginationWrapper): entries, limit,
        // has_next_page and marker; action_id is the hub's addition.
        return {
          action_id: record.actionId,
          entries: page.entries,
          limit,
          has_next_page: page.more,
          ...(page.more ? { marker: String(page.last) } : {}),
        };
      });
    }

    scopeApp.get(
      '/actions',
      {
        schema: {
          summary: "The caller's actions at this provider",
          tags: ['actions'],
          params: ProviderPath,
          querystring: ActionEnumerationQuery,
          response: { 200: ActionEnumeration, ...errorReplies },
        },
      },
      async (request) => {
        const viewer = await caller(request);
        await kind.guard(request.params, viewer);
        if (isAnonymous(viewer)) throw new HubError('UNAUTHENTICATED', 'listing actions needs a token');
        const statuses = parseList(request.query.status ?? 'active', ['active', 'inactive', 'succeeded', 'failed'], 'status')
          .map((s) => s.toUpperCase() as ActionStatusValue);
        const roles = parseList(request.query.roles ?? 'creator_id', ['creator_id', 'monitor_by', 'manage_by'], 'roles');
        const mine = principalsOf(viewer);
        const actions = (await engine.list(kind.key(request.params)))
          .filter((record) => statuses.includes(record.status))
          .filter((record) => roles.some((role) => hasRole(record, role, mine)))
          .map(toStatusDocument);
        return { actions };
      },
    );
  };

  await app.register(async (scoped) => registerProvider(scoped, inference), { prefix: '/inference' });
  await app.register(async (scoped) => registerProvider(scoped, perServable), {
    prefix: '/servables/:owner/:name',
  });
}

const documentKey = (document: PublishedMetadata) =>
  `servable:${document.hub.owner}/${document.hub.name}@${document.hub.version}`;

function sharedPrincipals(document: PublishedMetadata): string[] {
  const shared = document.hub.shared_with;
  return [
    ...new Set([
      userUrn(document.hub.owner),
      ...(shared?.users ?? []).map(userUrn),
      ...(shared?.groups ?? []).map(groupUrn),
    ]),
  ];
}

/** `runnable_by` of a private servable: its owner and those it is shared with. */
function mustRun(document: PublishedMetadata, viewer: Viewer): void {
  if (document.hub.visibility === 'public' || viewer.admin) return;
  const mine = principalsOf(viewer);
  if (!sharedPrincipals(document).some((principal) => mine.has(principal))) {
    if (isAnonymous(viewer)) throw new HubError('UNAUTHENTICATED', `${document.hub.owner}/${document.hub.name} is private`);
    throw new HubError('FORBIDDEN', `${creatorUrn(viewer)} is not in the runnable_by of ${document.hub.owner}/${document.hub.name}`);
  }
}

function hasRole(record: ActionRecord, role: string, mine: Set<string>): boolean {
  if (role === 'creator_id') return mine.has(record.creator);
  const list = role === 'monitor_by' ? record.request.monitor_by : record.request.manage_by;
  return (list ?? []).some((principal) => mine.has(principal));
}

function parseList(value: string, allowed: string[], name: string): string[] {
  const items = value.split(',').map((item) => item.trim().toLowerCase()).filter(Boolean);
  const unknown = items.filter((item) => !allowed.includes(item));
  if (unknown.length > 0) throw new HubError('BAD_REQUEST', `${name} may be ${allowed.join(', ')}; not ${unknown.join(', ')}`);
  return items;
}
