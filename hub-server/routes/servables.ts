/**
 * Publishing, listing, describing and withdrawing servables (`/api/v1/servables`).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Multipart } from '@fastify/multipart';
import { Type, type Static } from '@sinclair/typebox';
import { ErrorDocument, ListQuery, ServableList, OwnerNameParams, OwnerNameVersionParams, PublishAccepted, type OwnerNameMaybeVersion } from '../../schemas/api.ts';
import { HubBlock, ServableMetadata, Visibility, type PublishedMetadata } from '../../schemas/metadata.ts';
import { assertValid } from '../../schemas/validate.ts';
import { pathProblem } from '../../builder/archive.ts';
import type { Upload } from '../use-cases/publish-pipeline.ts';
import { isGitPublish, publishFromGit } from './publish-from-git.ts';
import { HubError } from '../../schemas/errors.ts';
import { checkJsonDepth } from '../../schemas/codecs/tensors.ts';
import { canView } from '../use-cases/access.ts';
import type { VersionRecord } from '../../schemas/ports/registry.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

const Document = Type.Record(Type.String(), Type.Unknown(), { description: 'the servable metadata document (datacite, hub, servable)' });
const errors = { 400: ErrorDocument, 401: ErrorDocument, 403: ErrorDocument, 404: ErrorDocument };

/** `PATCH /servables/{owner}/{name}`: what changes; `shared_with: {}` stops sharing. */
const SharingPatch = Type.Object(
  {
    visibility: Type.Optional(Visibility),
    shared_with: Type.Optional(HubBlock.properties.shared_with),
  },
  { additionalProperties: false, minProperties: 1 },
);
type SharingPatch = Static<typeof SharingPatch>;

/**
 * Watches an upload's body arrive and calls `onCut` once if it never will: the connection closed
 * before the announced Content-Length (a client that went away or half-closed), or no byte came for
 * `idleMs` while the hub was waiting for one (a client that stopped sending but keeps the socket).
 * Without it the multipart parser waits for the rest forever, holding an open file and an upload
 * folder. Returns the function that stops watching.
 */
function watchUploadBody(raw: IncomingMessage, idleMs: number, onCut: (error: HubError) => void): () => void {
  const announced = raw.headers['content-length'];
  const cut = (why: string) =>
    onCut(new HubError('BAD_REQUEST', `the multipart/form-data body ${why}${announced === undefined ? '' : ` before the ${announced} bytes its Content-Length announced`}`));
  if (raw.complete) return () => {};
  // Gone already (a body cut short and half-closed arrives with its end): nothing more will come.
  if (raw.destroyed) {
    cut('ended');
    return () => {};
  }
  const onClose = () => {
    if (!raw.complete) cut('was cut off');
  };
  raw.once('close', onClose);
  // Progress is read from the socket's byte count, not a 'data' listener (which would start the
  // stream flowing before the parser takes it). The hub is only waiting when the stream is not
  // paused by its own back-pressure and holds no unread bytes; a check that finds no progress
  // right after the event loop was blocked is not trusted alone, so two quiet checks in a row cut.
  const socket = raw.socket;
  let lastBytes = socket.bytesRead;
  let lastProgress = Date.now();
  let quietChecks = 0;
  const timer = setInterval(
    () => {
      const waiting = raw.readableFlowing !== false && raw.readableLength === 0;
      if (raw.complete || !waiting || socket.bytesRead !== lastBytes) {
        lastBytes = socket.bytesRead;
        lastProgress = Date.now();
        quietChecks = 0;
        return;
      }
      if (Date.now() - lastProgress >= idleMs && ++quietChecks >= 2) cut(`stopped arriving for ${idleMs / 1000} s`);
    },
    Math.max(50, Math.min(1000, idleMs / 4)),
  );
  timer.unref();
  return () => {
    clearInterval(timer);
    raw.off('close', onClose);
  };
}

/** Receive the multipart body: the metadata part parsed, every file part streamed to disk. */
async function receiveUpload(request: FastifyRequest, uploadDir: string, idleMs: number): Promise<{ metadata: unknown; uploads: Upload[] }> {
  if (!request.isMultipart()) {
    throw new HubError('UNSUPPORTED_MEDIA_TYPE', 'publish with multipart/form-data: a "metadata" part and one or more "file" parts');
  }
  let metadata: unknown;
  const uploads: Upload[] = [];
  await fsp.mkdir(path.join(uploadDir, 'parts'), { recursive: true });
  // Which of two metadata parts would count is a guess; refuse instead of guessing.
  const takeMetadata = (document: unknown) => {
    if (metadata !== undefined) throw new HubError('INVALID_METADATA', 'the request has more than one "metadata" part');
    metadata = document;
  };
  // A body that stops coming ends the wait: the file being written is destroyed (its pipeline
  // fails and closes the file) and the parts loop is abandoned, so the caller answers and cleans up.
  let receiving: Readable | undefined;
  let isCut = false;
  let stopWatching = () => {};
  const cut = new Promise<never>((_resolve, reject) => {
    stopWatching = watchUploadBody(request.raw, idleMs, (error) => {
      isCut = true;
      receiving?.destroy(error);
      reject(error);
    });
  });
  const received = (async () => {
    // A body already gone has nothing left to parse: the parser would wait for it forever.
    if (isCut) return;
    for await (const part of request.parts()) await receivePart(part);
  })();
  // Whichever loses the race must not become an unhandled rejection.
  cut.catch(() => {});
  received.catch(() => {});
  try {
    await Promise.race([received, cut]);
  } catch (error) {
    if (error instanceof HubError) throw error;
    const code = (error as { code?: unknown }).code;
    // @fastify/multipart parses a part sent as application/json itself, and calls bad JSON there a
    // 406; only the metadata part is JSON, so it is the metadata that is invalid.
    if (code === 'FST_INVALID_JSON_FIELD_ERROR') {
      throw new HubError('INVALID_METADATA', 'the "metadata" part, sent as application/json, is not valid JSON (or holds a "__proto__" key)');
    }
    // The multipart parser's own complaints (no boundary, a cut body, a bad part header) are plain
    // errors without a code; they describe the request, not the hub.
    if (code !== undefined || !(error instanceof Error)) throw error;
    throw new HubError('BAD_REQUEST', `the multipart/form-data body cannot be read: ${error.message}`);
  } finally {
    stopWatching();
  }
  if (metadata === undefined) throw new HubError('INVALID_METADATA', 'the request has no "metadata" part');
  // Refused here, before a version number is spent on a publish that cannot succeed.
  if (uploads.length === 0) throw new HubError('BAD_REQUEST', 'the request has no "file" parts (model files, or one .tar/.tar.gz/.zip of a folder)');
  return { metadata, uploads };

  async function receivePart(part: Multipart): Promise<void> {
    if (part.type === 'file') {
      // A metadata part sent as a file (`curl -F metadata=@servable.json`) is the same document.
      if (part.fieldname === 'metadata') {
        takeMetadata(parseMetadata((await part.toBuffer()).toString('utf8')));
        return;
      }
      const fileName = part.filename || `file-${uploads.length}`;
      // The name becomes a path in the model folder: one the file system cannot take (a NUL byte,
      // over 255 bytes) is the client's mistake, said now rather than as a failed task later.
      const problem = pathProblem(fileName);
      if (problem) {
        const shortened = fileName.length > 200 ? `${fileName.slice(0, 200)}…` : fileName;
        throw new HubError('BAD_REQUEST', `the "file" part named ${JSON.stringify(shortened)} ${problem}`, { details: { file_name: shortened } });
      }
      // The multipart parser keeps only a file name's last segment (dir/a.onnx is a.onnx): two
      // parts of one name would overwrite each other, so the second is refused, not lost.
      if (uploads.some((upload) => upload.fileName === fileName)) {
        throw new HubError('BAD_REQUEST', `two "file" parts are named "${fileName}"; send a folder with sub-folders as one .tar.gz or .zip`);
      }
      const tempPath = path.join(uploadDir, 'parts', String(uploads.length));
      receiving = part.file;
      await pipeline(part.file, fs.createWriteStream(tempPath));
      receiving = undefined;
      uploads.push({ fileName, tempPath });
    } else if (part.fieldname === 'metadata') {
      // Sent with `type=application/json` (`curl -F 'metadata=<m.json;type=application/json'`, and
      // most HTTP libraries), the part arrives already parsed by the multipart parser.
      takeMetadata(typeof part.value === 'string' ? parseMetadata(part.value) : checkedMetadata(part.value));
    }
  }
}

function parseMetadata(text: string): unknown {
  let metadata: unknown;
  try {
    metadata = JSON.parse(text);
  } catch (error) {
    throw new HubError('INVALID_METADATA', `the "metadata" part is not JSON: ${(error as Error).message}`);
  }
  return checkedMetadata(metadata);
}

function checkedMetadata(metadata: unknown): unknown {
  try {
    checkJsonDepth(metadata);
  } catch (error) {
    throw new HubError('INVALID_METADATA', `the "metadata" part: ${(error as Error).message}`);
  }
  return metadata;
}

function versionView(record: VersionRecord) {
  return {
    servable: `${record.owner}/${record.name}`,
    version: record.version,
    state: record.state,
    created_at: record.created_at,
    published_at: record.published_at,
    withdrawn_at: record.withdrawn_at,
    withdrawn_reason: record.withdrawn_reason,
    identifier: record.document?.hub.identifier,
    title: record.document?.datacite.titles[0]?.title,
  };
}

const VersionView = Type.Object({
  servable: Type.String(),
  version: Type.Integer(),
  state: Type.String(),
  created_at: Type.String(),
  published_at: Type.Optional(Type.String()),
  withdrawn_at: Type.Optional(Type.String()),
  withdrawn_reason: Type.Optional(Type.String()),
  identifier: Type.Optional(Type.String()),
  title: Type.Optional(Type.String()),
});

export default async function servablesRoutes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox), so handlers read params and bodies without casts.
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  const { registry, publisher, gateway, search, manager, minter, config } = app.hub;

  app.post('/servables', {
    schema: {
      summary: 'Publish a servable version',
      description: 'multipart/form-data: a `metadata` part (the JSON metadata document) and one or more `file` parts (model files, or one .tar/.tar.gz/.zip of a folder). Or application/json `{"source": {"git": URL, "ref": tag-branch-or-commit}, "metadata"?: {...}}` to publish the files of one commit of a git repository (docs/environments.md).',
      tags: ['servables'],
      consumes: ['multipart/form-data', 'application/json'],
      response: { 202: PublishAccepted, 400: ErrorDocument, 401: ErrorDocument, 403: ErrorDocument, 413: ErrorDocument, 415: ErrorDocument },
    },
    handler: async (request, reply) => {
      // Refuse a missing token or scope before receiving what may be gigabytes.
      app.requirePublisher(request);
      // `{"source": {"git", "ref"}, "metadata"?}`: the files come from a git repository.
      if (!request.isMultipart() && isGitPublish(request.body)) return reply.code(202).send(await publishFromGit(app, request));
      const uploadDir = path.join(config.dataDir, 'uploads', randomUUID());
      try {
        const { metadata, uploads } = await receiveUpload(request, uploadDir, config.uploadIdleMs);
        const document = assertValid(ServableMetadata, metadata, 'INVALID_METADATA');
        // Provenance is the hub's to record (publish-from-git.ts), never an uploader's claim.
        if (document.hub.source !== undefined) {
          throw new HubError('INVALID_METADATA', 'hub.source is filled by the hub for a publish from a git repository; leave it out of an upload');
        }
        app.requirePublisher(request, document.hub.owner);
        const accepted = await publisher.accept(document, uploads, uploadDir);
        await app.tokens.setTaskCreator(accepted.task_id, request.viewer.user ?? null);
        app.auditEvent(request, {
          action: 'publish',
          target: `${accepted.servable}@${accepted.version}`,
          detail: { task_id: accepted.task_id, visibility: document.hub.visibility ?? 'public', shared_with: document.hub.shared_with },
        });
        return reply.code(202).send(accepted);
      } catch (error) {
        // Refused before its body was all read (a cut or stalled upload, a bad part early on): close
        // the connection after answering, rather than read the rest of what may be gigabytes.
        if (!request.raw.complete) reply.header('connection', 'close');
        await fsp.rm(uploadDir, { recursive: true, force: true });
        throw error;
      }
    },
  });

  app.get('/servables', {
    schema: {
      summary: 'List servables, newest first',
      tags: ['servables'],
      querystring: ListQuery,
      response: { 200: ServableList, ...errors },
    },
    handler: async (request) => {
      app.requireReader(request);
      const query = request.query;
      // The registry leaves out private servables the caller may not see, so pages stay full.
      const page = await registry.listServables({ owner: query.owner, limit: query.limit ?? 50, cursor: query.cursor, viewer: request.viewer });
      return { items: page.items.map(({ document: _document, ...summary }) => summary), next_cursor: page.next_cursor };
    },
  });

  app.get('/servables/:owner/:name', {
    schema: { summary: 'The metadata document of the latest version', tags: ['servables'], params: OwnerNameParams, response: { 200: Document, ...errors } },
    handler: async (request) => {
      app.requireReader(request);
      const { owner, name } = request.params;
      return gateway.describe({ owner, name }, request.viewer);
    },
  });

  app.get('/servables/:owner/:name/versions', {
    schema: {
      summary: 'The versions of a servable, newest first',
      tags: ['servables'],
      params: OwnerNameParams,
      response: { 200: Type.Object({ servable: Type.String(), versions: Type.Array(VersionView) }), ...errors },
    },
    handler: async (request) => {
      app.requireReader(request);
      const { owner, name } = request.params;
      const versions = (await registry.listVersions(owner, name)).filter((v) => v.document && canView(v.document, request.viewer));
      if (versions.length === 0) throw new HubError('SERVABLE_NOT_FOUND', `${owner}/${name}`);
      return { servable: `${owner}/${name}`, versions: versions.map(versionView) };
    },
  });

  app.get('/servables/:owner/:name/versions/:version', {
    schema: { summary: 'The metadata document of one version', tags: ['servables'], params: OwnerNameVersionParams, response: { 200: Document, ...errors, 410: ErrorDocument } },
    handler: async (request) => {
      app.requireReader(request);
      const { owner, name, version } = request.params;
      return gateway.describe({ owner, name, version }, request.viewer);
    },
  });

  const withdraw = async (request: FastifyRequest<{ Params: OwnerNameMaybeVersion; Querystring: Static<typeof WithdrawQuery> }>) => {
    const { owner, name, version } = request.params;
    // The reason may come as a JSON body or as ?reason= (a DELETE body is optional, so not a route schema).
    const body = assertValid(WithdrawBody, request.body ?? {}, 'BAD_REQUEST');
    const reason = body.reason ?? request.query.reason ?? 'withdrawn by the owner';
    // Token and scope, then existence as the caller may see it (a private servable of someone
    // else is unknown), then ownership: no answer depends on a servable the caller cannot see.
    app.requirePublisher(request);
    await gateway.describe({ owner, name, version }, request.viewer);
    app.requirePublisher(request, owner);
    const withdrawn = await registry.withdraw(owner, name, version, reason);
    await search.removeServable(owner, name, version);
    for (const v of withdrawn) {
      const record = await registry.getVersion(owner, name, v);
      if (record?.document?.hub.identifier) await minter.hide?.(record.document.hub.identifier);
    }
    gateway.invalidate(owner, name);
    await manager.unloadServable(owner, name, version);
    app.auditEvent(request, { action: 'withdraw', target: `${owner}/${name}${version === undefined ? '' : `@${version}`}`, detail: { withdrawn, reason } });
    return { servable: `${owner}/${name}`, withdrawn, reason };
  };
  const WithdrawReply = Type.Object({ servable: Type.String(), withdrawn: Type.Array(Type.Integer()), reason: Type.String() });
  const WithdrawQuery = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 1000 })) });
  const WithdrawBody = WithdrawQuery;

  app.delete('/servables/:owner/:name', {
    schema: { summary: 'Withdraw every version of a servable', tags: ['servables'], params: OwnerNameParams, querystring: WithdrawQuery, response: { 200: WithdrawReply, ...errors } },
    handler: withdraw,
  });
  app.delete('/servables/:owner/:name/versions/:version', {
    schema: { summary: 'Withdraw one version', tags: ['servables'], params: OwnerNameVersionParams, querystring: WithdrawQuery, response: { 200: WithdrawReply, ...errors } },
    handler: withdraw,
  });

  const share = async (request: FastifyRequest<{ Params: OwnerNameMaybeVersion; Body: SharingPatch }>) => {
    const { owner, name, version } = request.params;
    const patch = request.body;
    app.requirePublisher(request);
    const all = (await registry.listVersions(owner, name)).filter((v) => v.document);
    const targets = all.filter((v) => version === undefined || v.version === version);
    if (!targets.some((v) => canView(v.document!, request.viewer))) {
      if (version !== undefined && all.some((v) => canView(v.document!, request.viewer))) throw new HubError('VERSION_NOT_FOUND', `${owner}/${name}@${version}`);
      throw new HubError('SERVABLE_NOT_FOUND', `${owner}/${name}`);
    }
    app.requirePublisher(request, owner);
    const updated: PublishedMetadata[] = [];
    for (const record of targets) {
      const current = record.document!;
      const shared = patch.shared_with === undefined ? current.hub.shared_with : patch.shared_with;
      const { shared_with: _old, ...hub } = current.hub;
      const document: PublishedMetadata = {
        ...current,
        hub: { ...hub, visibility: patch.visibility ?? current.hub.visibility, ...(shared && (shared.users?.length || shared.groups?.length) ? { shared_with: shared } : {}) },
      };
      await registry.updateDocument(document);
      // Withdrawn versions keep their tombstone, with the new visibility, and stay out of search.
      if (record.state === 'published') await search.indexDocument(document);
      await minter.update?.(document);
      updated.push(document);
    }
    gateway.invalidate(owner, name);
    const latest = updated[0]!;
    app.auditEvent(request, {
      action: 'sharing',
      target: `${owner}/${name}${version === undefined ? '' : `@${version}`}`,
      detail: { versions: updated.map((d) => d.hub.version), visibility: latest.hub.visibility, shared_with: latest.hub.shared_with },
    });
    return {
      servable: `${owner}/${name}`,
      versions: updated.map((d) => d.hub.version),
      visibility: latest.hub.visibility,
      shared_with: { users: latest.hub.shared_with?.users ?? [], groups: latest.hub.shared_with?.groups ?? [] },
    };
  };
  const SharingReply = Type.Object({
    servable: Type.String(),
    versions: Type.Array(Type.Integer()),
    visibility: Visibility,
    shared_with: Type.Object({ users: Type.Array(Type.String()), groups: Type.Array(Type.String()) }),
  });
  app.patch('/servables/:owner/:name', {
    schema: {
      summary: 'Change the visibility and sharing of every version (no new version)',
      tags: ['servables'],
      params: OwnerNameParams,
      body: SharingPatch,
      response: { 200: SharingReply, ...errors },
    },
    handler: share,
  });
  app.patch('/servables/:owner/:name/versions/:version', {
    schema: {
      summary: 'Change the visibility and sharing of one version',
      tags: ['servables'],
      params: OwnerNameVersionParams,
      body: SharingPatch,
      response: { 200: SharingReply, ...errors },
    },
    handler: share,
  });
}
