import { apiUrl, hubJson, type HubParams } from '../http.ts';
import { parseServableName, servablePath } from '../servable-name.ts';

/**
 * `DELETE /servables/{owner}/{name}[/versions/{v}]`: withdraw every version, or one. Identifiers
 * keep resolving, to a tombstone that gives the reason.
 */
export async function withdrawServable(
  params: HubParams & { name: string; version?: number; reason?: string },
): Promise<Record<string, unknown>> {
  const ref = parseServableName(params.name, params.version);
  const query = params.reason ? new URLSearchParams({ reason: params.reason }) : undefined;
  const response = await hubJson<Record<string, unknown> | null>(
    params,
    apiUrl(params, servablePath(ref), query),
    { method: 'DELETE' },
  ).catch((error: unknown) => {
    // 204 No Content has no JSON body to parse.
    if (error instanceof SyntaxError) return null;
    throw error;
  });
  return response ?? {};
}
