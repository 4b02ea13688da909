/**
 * Reproducibility checks over HTTP (docs/provenance.md): `POST …/verify` re-runs a version's
 * examples now (its owner, or an admin; anyone on an open hub), `GET …/reproducibility` is the last
 * check. A version the caller may not see answers as an unknown one.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorDocument, OwnerNameParams, OwnerNameVersionParams, type OwnerNameMaybeVersion } from '../../schemas/api.ts';
import { CheckReply } from '../../schemas/provenance.ts';
import { HubError } from '../../schemas/errors.ts';
import type { CheckRecord } from '../../schemas/ports/reproducibility-store.ts';

export default async function reproducibilityRoutes(app: FastifyInstance): Promise<void> {
  // Each route exists with and without /versions/{version}; the handlers are shared, typed by both.
  type VersionRequest = FastifyRequest<{ Params: OwnerNameMaybeVersion }>;
  const versionOf = async (request: VersionRequest) => {
    const { owner, name, version } = request.params;
    const document = await app.hub.gateway.describe({ owner, name, version }, request.viewer);
    return { owner: document.hub.owner, name: document.hub.name, version: document.hub.version };
  };
  const reply = (check: CheckRecord) => {
    const { owner, name, ...rest } = check;
    return { servable: `${owner}/${name}`, ...rest };
  };
  const response = { 200: CheckReply, 401: ErrorDocument, 403: ErrorDocument, 404: ErrorDocument, 410: ErrorDocument };

  const verify = async (request: VersionRequest) => {
    app.requireRunner(request);
    const ref = await versionOf(request);
    app.requirePublisher(request, ref.owner);
    const check = await app.hub.reproducibility.verify(ref, 'manual');
    if (!check) throw new HubError('VERSION_NOT_FOUND', `${ref.owner}/${ref.name}@${ref.version} has no examples to check (docs/provenance.md)`);
    return reply(check);
  };
  const latest = async (request: VersionRequest) => {
    app.requireReader(request);
    return reply(await app.hub.reproducibility.latest(await versionOf(request)));
  };
  const tags = ['reproducibility'];
  app.post('/servables/:owner/:name/verify', { schema: { summary: "Re-run the latest version's examples", tags, params: OwnerNameParams, response }, handler: verify });
  app.post('/servables/:owner/:name/versions/:version/verify', { schema: { summary: "Re-run a version's examples", tags, params: OwnerNameVersionParams, response }, handler: verify });
  app.get('/servables/:owner/:name/reproducibility', { schema: { summary: 'The last reproducibility check of the latest version', tags, params: OwnerNameParams, response }, handler: latest });
  app.get('/servables/:owner/:name/versions/:version/reproducibility', { schema: { summary: 'The last reproducibility check of a version', tags, params: OwnerNameVersionParams, response }, handler: latest });
}
