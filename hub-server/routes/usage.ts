/**
 * Usage an author can see (docs/usage.md): `GET /servables/{owner}/{name}[/versions/{v}]/usage`
 * (or `?version=`), runs, errors, mean latency and distinct callers per version and day. Only the
 * owner (or an admin) reads it; a servable the caller may not see answers as an unknown one, one
 * they see but do not own is a 403. Callers are counted, never named.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ErrorDocument, OwnerNameParams, OwnerNameVersionParams } from '../../schemas/api.ts';
import { UsageReply } from '../../schemas/webhooks.ts';
import { HubError } from '../../schemas/errors.ts';
import { visibleVersions } from '../use-cases/access.ts';

const UsageQuery = Type.Object({
  version: Type.Optional(Type.Integer({ minimum: 1 })),
  days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3660, default: 30, description: 'how many days back, today included' })),
});
const response = { 200: UsageReply, 400: ErrorDocument, 401: ErrorDocument, 403: ErrorDocument, 404: ErrorDocument };

export default async function usageRoutes(hub: FastifyInstance): Promise<void> {
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();

  const report = async (request: FastifyRequest, owner: string, name: string, version: number | undefined, days: number | undefined) => {
    hub.requireReader(request);
    // Withdrawn versions keep their usage: every version the caller may see counts, whatever its state.
    const visible = visibleVersions(await hub.hub.registry.listVersions(owner, name), request.viewer);
    if (visible.length === 0) throw new HubError('SERVABLE_NOT_FOUND', `${owner}/${name}`);
    if (version !== undefined && !visible.some((record) => record.version === version)) throw new HubError('VERSION_NOT_FOUND', `${owner}/${name}@${version}`);
    hub.requirePublisher(request, owner);
    return hub.hub.usage.report(owner, name, { ...(version === undefined ? {} : { version }), days: days ?? 30 });
  };
  const tags = ['usage'];
  app.get('/servables/:owner/:name/usage', {
    schema: { summary: "A servable's usage by version and day (its owner only)", tags, params: OwnerNameParams, querystring: UsageQuery, response },
    handler: async (request) => report(request, request.params.owner, request.params.name, request.query.version, request.query.days),
  });
  app.get('/servables/:owner/:name/versions/:version/usage', {
    schema: { summary: "A version's usage by day (its owner only)", tags, params: OwnerNameVersionParams, querystring: Type.Omit(UsageQuery, ['version']), response },
    handler: async (request) => report(request, request.params.owner, request.params.name, request.params.version, request.query.days),
  });
}
