import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { apiUrl, hubJson, type HubParams } from '../http.ts';
import { parseServableName, servablePath } from '../servable-name.ts';

/** The published metadata document of the latest version, or of `owner/name@v` / `version`. */
export function describeServable(params: HubParams & { name: string; version?: number }): Promise<PublishedMetadata> {
  const ref = parseServableName(params.name, params.version);
  return hubJson<PublishedMetadata>(params, apiUrl(params, servablePath(ref)));
}
