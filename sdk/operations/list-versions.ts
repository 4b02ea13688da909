import { apiUrl, hubJson, type HubParams } from '../http.ts';
import { parseServableName, servablePath } from '../servable-name.ts';

/** One version of a servable, newest first in `listVersions`. Withdrawn versions stay listed. */
export interface VersionEntry {
  version: number;
  state?: string;
  identifier?: string;
  published_at?: string;
  withdrawn_at?: string;
  withdrawn_reason?: string;
  [key: string]: unknown;
}

/** `GET /servables/{owner}/{name}/versions`, newest first. */
export async function listVersions(params: HubParams & { name: string }): Promise<VersionEntry[]> {
  const { owner, name } = parseServableName(params.name);
  const reply = await hubJson<VersionEntry[] | { items?: VersionEntry[]; versions?: VersionEntry[] }>(
    params,
    apiUrl(params, `${servablePath({ owner, name })}/versions`),
  );
  return Array.isArray(reply) ? reply : (reply.items ?? reply.versions ?? []);
}
