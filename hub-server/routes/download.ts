/**
 * Taking a servable version home (`/api/v1/servables/{owner}/{name}[/versions/{v}]/download`): a
 * streamed `.tar.gz` of its files, metadata, citation and a way to serve it locally
 * (builder/take-home-archive.ts), or with `?presigned=true` time-limited direct links to each file
 * where the blob store is S3. Who may download is who may run: a private servable of someone else
 * answers as an unknown one, exactly as describe does.
 */
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { ErrorDocument, OwnerNameParams, OwnerNameVersionParams, type OwnerNameMaybeVersion } from '../../schemas/api.ts';
import { HubError } from '../../schemas/errors.ts';
import { canView } from '../use-cases/access.ts';
import { formatCitation } from '../use-cases/citation-formats.ts';
import { loadCitationSubject } from '../use-cases/identifiers.ts';
import { subjectContext, versionIdentifierRecord } from './citation.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

const PRESIGNED_SECONDS = 3600;

const DownloadQuery = Type.Object({
  presigned: Type.Optional(Type.Boolean({ description: 'reply with direct, time-limited links to each file (S3 blob stores only) instead of the archive' })),
});

const PresignedReply = Type.Object({
  servable: Type.String(),
  version: Type.Integer(),
  expires_in: Type.Integer(),
  files: Type.Array(Type.Object({ path: Type.String(), sha256: Type.String(), size: Type.Integer(), url: Type.String() })),
});

export default async function downloadRoutes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox), so handlers read params and bodies without casts.
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  const { gateway, blobs, config } = app.hub;

  const download = async (request: FastifyRequest<{ Params: OwnerNameMaybeVersion; Querystring: Static<typeof DownloadQuery> }>, reply: FastifyReply) => {
    app.requireRunner(request);
    const { owner, name, version } = request.params;
    const document = await gateway.describe({ owner, name, ...(version === undefined ? {} : { version }) }, request.viewer);
    const { hub } = document;

    if (request.query.presigned) {
      if (!blobs.presignedUrl) {
        throw new HubError('BAD_REQUEST', `this hub's blob store (${blobs.kind}) gives no direct links; download the archive without ?presigned=true`);
      }
      const files = [];
      for (const file of hub.files) {
        const url = await blobs.presignedUrl(file.sha256, PRESIGNED_SECONDS);
        if (!url) throw new HubError('BAD_REQUEST', `this hub's blob store (${blobs.kind}) gives no direct links; download the archive without ?presigned=true`);
        files.push({ path: file.path, sha256: file.sha256, size: file.size, url });
      }
      return { servable: `${owner}/${name}`, version: hub.version, expires_in: PRESIGNED_SECONDS, files };
    }

    const loaded = await loadCitationSubject(subjectContext(app), await versionIdentifierRecord(app, document), (d) => canView(d, request.viewer));
    if (!loaded) throw new HubError('SERVABLE_NOT_FOUND', `${owner}/${name}`);
    const citation = { text: formatCitation(loaded.subject, 'apa').body, bibtex: formatCitation(loaded.subject, 'bibtex').body };
    // The archive writer (tar) loads with the first download, not with the hub.
    const { takeHomeArchive } = await import('../../builder/take-home-archive.ts');
    const archive = await takeHomeArchive(blobs, document, citation, path.join(config.dataDir, 'take-home'));
    return reply
      .type('application/gzip')
      .header('content-disposition', `attachment; filename="${archive.fileName}"`)
      .header('x-modelhub-version', String(hub.version))
      .send(archive.stream);
  };

  const schema = (summary: string, params: typeof OwnerNameParams | typeof OwnerNameVersionParams) => ({
    summary,
    description:
      'A .tar.gz of the version: `model/` (its files), `SHA256SUMS`, `metadata.json`, `README.md` and `CITATION.bib`, and a script with a Dockerfile that serves it locally (python, sklearn, torch and onnx servables). With `?presigned=true`, direct links to each file where the blob store is S3. Access as for running.',
    tags: ['servables'],
    params,
    querystring: DownloadQuery,
    produces: ['application/gzip', 'application/json'],
    response: { 200: PresignedReply, 400: ErrorDocument, 401: ErrorDocument, 403: ErrorDocument, 404: ErrorDocument, 410: ErrorDocument },
  });

  app.get('/servables/:owner/:name/download', { schema: schema('Download the latest version to run it elsewhere', OwnerNameParams), handler: download });
  app.get('/servables/:owner/:name/versions/:version/download', { schema: schema('Download one version to run it elsewhere', OwnerNameVersionParams), handler: download });
}
