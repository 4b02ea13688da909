/**
 * Stored runs (docs/provenance.md): `GET /runs/{id}` (the provenance record with the inputs and
 * output) and `GET /runs/{id}/crate` (an RO-Crate 1.1 zip, or its metadata document with
 * `?format=json` or `Accept: application/ld+json`). Who may read a run is who may read its task:
 * the signed-in caller who made it (or an admin); an anonymous run whoever holds its random id;
 * and only while the servable version is still visible to them.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { ErrorDocument } from '../../schemas/api.ts';
import { ProvenanceRecord } from '../../schemas/provenance.ts';
import { HubError } from '../../schemas/errors.ts';
import type { StoredRun } from '../../schemas/ports/run-store.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { canSeeTask, canView } from '../use-cases/access.ts';
import { buildRunCrate, runCrateZip } from '../use-cases/ro-crate.ts';
import { batchCrateFiles } from '../use-cases/batch/batch-provenance.ts';

const RunParams = Type.Object({ run_id: Type.String({ maxLength: 100 }) });
const CrateQuery = Type.Object({ format: Type.Optional(Type.Union([Type.Literal('zip'), Type.Literal('json')])) });
const StoredRunReply = Type.Object({
  provenance: ProvenanceRecord,
  inputs: Type.Unknown(),
  parameters: Type.Unknown(),
  output: Type.Unknown(),
  stored_at: Type.String(),
});

export default async function runRecordRoutes(app: FastifyInstance): Promise<void> {
  const readable = async (request: FastifyRequest<{ Params: Static<typeof RunParams> }>): Promise<{ run: StoredRun; document: PublishedMetadata | undefined }> => {
    app.requireReader(request);
    const { run_id } = request.params;
    const run = await app.hub.provenance.get(run_id);
    if (!run || !canSeeTask(run.caller, request.viewer)) throw new HubError('RUN_NOT_FOUND', run_id);
    const [owner, name] = run.record.servable.split('/') as [string, string];
    const record = await app.hub.registry.getVersion(owner, name, run.record.version);
    if (record?.document && !canView(record.document, request.viewer)) throw new HubError('RUN_NOT_FOUND', run_id);
    return { run, document: record?.document };
  };

  app.get<{ Params: Static<typeof RunParams> }>('/runs/:run_id', {
    schema: { summary: 'A stored run: its provenance record, inputs and output', tags: ['provenance'], params: RunParams, response: { 200: StoredRunReply, 401: ErrorDocument, 404: ErrorDocument } },
    handler: async (request) => {
      const { run } = await readable(request);
      return { provenance: run.record, inputs: run.inputs, parameters: run.parameters, output: run.output, stored_at: run.stored_at };
    },
  });

  app.get<{ Params: Static<typeof RunParams>; Querystring: Static<typeof CrateQuery> }>('/runs/:run_id/crate', {
    schema: {
      summary: 'A stored run as an RO-Crate 1.1 (Process Run Crate): a zip, or the metadata document alone',
      tags: ['provenance'],
      params: RunParams,
      querystring: CrateQuery,
      response: { 401: ErrorDocument, 404: ErrorDocument },
    },
    handler: async (request, reply) => {
      const { run, document } = await readable(request);
      // A batch run's crate holds its data set and results files (use-cases/batch/batch-provenance.ts).
      const crate = buildRunCrate(run, document, app.hub.config.publicUrl, await batchCrateFiles(app.hub.blobs, run.record));
      const format = request.query.format ?? (/application\/ld\+json/.test(request.headers.accept ?? '') ? 'json' : 'zip');
      if (format === 'json') return reply.type('application/ld+json; charset=utf-8').send(JSON.stringify(crate.metadata, null, 2));
      return reply
        .type('application/zip')
        .header('content-disposition', `attachment; filename="run-${run.record.run_id}.crate.zip"`)
        .send(runCrateZip(crate, new Date(run.stored_at)));
    },
  });
}
