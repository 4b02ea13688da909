/** `/api/v1/endpoints`: register, list, show and delete compute endpoints. */
import type { EndpointDocument, RegisterEndpointRequest } from '../../schemas/endpoints.ts';
import { apiUrl, hubJson, jsonBody, type HubParams } from '../http.ts';

export type { EndpointDocument };

/** Registers (or re-registers, with a new token) the caller's endpoint; the token is shown once. */
export function registerEndpoint(params: HubParams, request: RegisterEndpointRequest): Promise<EndpointDocument & { token: string }> {
  return hubJson(params, apiUrl(params, '/endpoints'), { method: 'POST', ...jsonBody(request) });
}

export async function listEndpoints(params: HubParams, filter: { owner?: string } = {}): Promise<EndpointDocument[]> {
  const query = new URLSearchParams(filter.owner ? { owner: filter.owner } : {});
  return (await hubJson<{ items: EndpointDocument[] }>(params, apiUrl(params, '/endpoints', query))).items;
}

const endpointPath = (endpoint: string) => {
  const [owner, name] = endpoint.split('/');
  if (!owner || !name) throw new TypeError(`an endpoint is owner/name: ${endpoint}`);
  return `/endpoints/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`;
};

export function getEndpoint(params: HubParams, endpoint: string): Promise<EndpointDocument> {
  return hubJson(params, apiUrl(params, endpointPath(endpoint)));
}

export function deleteEndpoint(params: HubParams, endpoint: string): Promise<EndpointDocument> {
  return hubJson(params, apiUrl(params, endpointPath(endpoint)), { method: 'DELETE' });
}
