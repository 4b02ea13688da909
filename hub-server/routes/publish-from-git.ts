/**
 * `POST /api/v1/servables` with `{"source": {"git": URL, "ref": tag-branch-or-commit}, "metadata"?}`:
 * the files of one commit of a git repository are published as an upload would be. The commit is
 * fetched while the request waits (bounded in time and size: builder/git-source.ts), so a refused
 * URL, a ref that does not exist or a repository that is too large is a 400 before a version
 * number is spent. The metadata is the request's, or else the repository's `modelhub.json`; the
 * hub records the commit in `hub.source` and as a DataCite `IsDerivedFrom` relation, and the
 * environment is found in the files as repo2docker finds it (requirements.txt, environment.yml,
 * apt.txt: servables/environments.ts; a Dockerfile with no servable block makes a container servable).
 */
import { randomUUID } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { fetchGitCommit } from '../../builder/git-source.ts';
import type { PublishAccepted } from '../../schemas/api.ts';
import { ServableMetadata, type RelatedIdentifier } from '../../schemas/metadata.ts';
import { assertValid } from '../../schemas/validate.ts';
import { checkJsonDepth } from '../../schemas/codecs/tensors.ts';
import { HubError } from '../../schemas/errors.ts';

/** The metadata document a repository may carry at its top. */
export const REPOSITORY_METADATA_FILE = 'modelhub.json';
const MAX_METADATA_BYTES = 1024 * 1024;
const MAX_FILES = 10_000;

export const GitPublishRequest = Type.Object(
  {
    source: Type.Object(
      {
        git: Type.String({ minLength: 1, maxLength: 2000, description: 'https:// (or http://) URL of the repository' }),
        ref: Type.String({ minLength: 1, maxLength: 250, description: 'a tag, branch or commit hash' }),
      },
      { additionalProperties: false },
    ),
    metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: `the metadata document; default: the repository's ${REPOSITORY_METADATA_FILE}` })),
  },
  { additionalProperties: false },
);
export type GitPublishRequest = Static<typeof GitPublishRequest>;

/** Whether a JSON publish body asks for a git source (anything else keeps the multipart answer). */
export function isGitPublish(body: unknown): boolean {
  return typeof body === 'object' && body !== null && 'source' in body;
}

/** The document with where its files came from: `hub.source`, and `IsDerivedFrom` the commit. */
function withProvenance(metadata: Record<string, unknown>, source: { git: string; ref: string }, commit: string): Record<string, unknown> {
  const hub = (typeof metadata.hub === 'object' && metadata.hub !== null ? metadata.hub : {}) as Record<string, unknown>;
  const datacite = (typeof metadata.datacite === 'object' && metadata.datacite !== null ? metadata.datacite : {}) as Record<string, unknown>;
  const related = Array.isArray(datacite.relatedIdentifiers) ? (datacite.relatedIdentifiers as RelatedIdentifier[]) : [];
  // pip's VCS form names a repository at one commit in one URL.
  const derivedFrom: RelatedIdentifier = { relatedIdentifier: `git+${source.git}@${commit}`, relatedIdentifierType: 'URL', relationType: 'IsDerivedFrom' };
  return {
    ...metadata,
    datacite: { ...datacite, relatedIdentifiers: [...related.filter((r) => r.relatedIdentifier !== derivedFrom.relatedIdentifier), derivedFrom] },
    hub: { ...hub, source: { git: source.git, ref: source.ref, commit } },
  };
}

async function repositoryMetadata(dir: string, files: string[]): Promise<Record<string, unknown>> {
  if (!files.includes(REPOSITORY_METADATA_FILE)) {
    throw new HubError('INVALID_METADATA', `give "metadata" in the request, or put a ${REPOSITORY_METADATA_FILE} at the top of the repository`);
  }
  const file = path.join(dir, REPOSITORY_METADATA_FILE);
  if ((await fsp.stat(file)).size > MAX_METADATA_BYTES) throw new HubError('INVALID_METADATA', `${REPOSITORY_METADATA_FILE} is larger than ${MAX_METADATA_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fsp.readFile(file, 'utf8'));
    checkJsonDepth(parsed);
  } catch (error) {
    throw new HubError('INVALID_METADATA', `${REPOSITORY_METADATA_FILE}: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HubError('INVALID_METADATA', `${REPOSITORY_METADATA_FILE} is not a JSON object`);
  return parsed as Record<string, unknown>;
}

/** Fetch the commit, settle the metadata, and hand the files to the publisher (202 body). */
export async function publishFromGit(app: FastifyInstance, request: FastifyRequest): Promise<PublishAccepted> {
  const { config, publisher } = app.hub;
  app.requirePublisher(request);
  const body = assertValid(GitPublishRequest, request.body, 'BAD_REQUEST');
  const uploadDir = path.join(config.dataDir, 'uploads', randomUUID());
  try {
    const fetched = await fetchGitCommit(body.source, path.join(uploadDir, 'git'), { ...config.git, maxFiles: MAX_FILES });
    let metadata = body.metadata ?? (await repositoryMetadata(fetched.dir, fetched.files));
    // repo2docker's last resort: a Dockerfile at the top builds the servable's own image.
    if (metadata.servable === undefined && fetched.files.includes('Dockerfile')) {
      metadata = { ...metadata, servable: { type: 'container', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } } };
    }
    const document = assertValid(ServableMetadata, withProvenance(metadata, body.source, fetched.commit), 'INVALID_METADATA');
    app.requirePublisher(request, document.hub.owner);
    const uploads = fetched.files
      .filter((file) => file !== REPOSITORY_METADATA_FILE)
      .map((file) => ({ fileName: file, tempPath: path.join(fetched.dir, file) }));
    if (uploads.length === 0) throw new HubError('BAD_REQUEST', `the commit ${fetched.commit} holds no files besides ${REPOSITORY_METADATA_FILE}`);
    const accepted = await publisher.accept(document, uploads, uploadDir);
    await app.tokens.setTaskCreator(accepted.task_id, request.viewer.user ?? null);
    app.auditEvent(request, {
      action: 'publish',
      target: `${accepted.servable}@${accepted.version}`,
      detail: { task_id: accepted.task_id, visibility: document.hub.visibility ?? 'public', source: document.hub.source },
    });
    return accepted;
  } catch (error) {
    await fsp.rm(uploadDir, { recursive: true, force: true });
    throw error;
  }
}
