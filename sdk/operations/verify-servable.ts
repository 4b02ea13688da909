import type { CheckReply } from '../../schemas/provenance.ts';
import { apiUrl, hubJson, type HubParams } from '../http.ts';
import { parseServableName, servablePath } from '../servable-name.ts';

/**
 * `POST …/verify`: re-run a version's examples now and compare each output with the expected one
 * (docs/provenance.md). `status` is reproducible, drifted or fails; `summary` says which output
 * differs and by how much.
 */
export function verifyServable(params: HubParams & { name: string; version?: number }): Promise<CheckReply> {
  const ref = parseServableName(params.name, params.version);
  return hubJson<CheckReply>(params, apiUrl(params, `${servablePath(ref)}/verify`), { method: 'POST' });
}
