/**
 * Webhooks on your servables' events and the usage of your servables (docs/webhooks.md,
 * docs/usage.md), as the SDK and `modelhub webhook …` / `modelhub usage` call them.
 */
import type { CreateWebhookRequest, CreatedWebhook, Delivery, UsageReply, WebhookInfo } from '../../schemas/webhooks.ts';
import { apiUrl, hubFetch, hubJson, jsonBody, type HubParams } from '../http.ts';
import { parseServableName, servablePath } from '../servable-name.ts';

/** `GET …/usage`: runs, errors, mean latency and distinct callers by version and day (the owner only). */
export function servableUsage(params: HubParams & { name: string; version?: number; days?: number }): Promise<UsageReply> {
  const ref = parseServableName(params.name, params.version);
  const query = new URLSearchParams();
  if (params.days !== undefined) query.set('days', String(params.days));
  return hubJson<UsageReply>(params, apiUrl(params, `${servablePath(ref)}/usage`, query));
}

/** `POST /webhooks`: the reply holds the signing secret, shown this once. */
export function createWebhook(params: HubParams & { webhook: CreateWebhookRequest }): Promise<CreatedWebhook> {
  return hubJson<CreatedWebhook>(params, apiUrl(params, '/webhooks'), { method: 'POST', ...jsonBody(params.webhook) });
}

export async function listWebhooks(params: HubParams & { owner?: string }): Promise<WebhookInfo[]> {
  const query = new URLSearchParams();
  if (params.owner !== undefined) query.set('owner', params.owner);
  return (await hubJson<{ webhooks: WebhookInfo[] }>(params, apiUrl(params, '/webhooks', query))).webhooks;
}

export async function deleteWebhook(params: HubParams & { id: string }): Promise<void> {
  // 204: no body to read.
  await hubFetch(params, apiUrl(params, `/webhooks/${encodeURIComponent(params.id)}`), { method: 'DELETE' });
}

export async function webhookDeliveries(params: HubParams & { id: string; limit?: number }): Promise<Delivery[]> {
  const query = new URLSearchParams();
  if (params.limit !== undefined) query.set('limit', String(params.limit));
  return (await hubJson<{ deliveries: Delivery[] }>(params, apiUrl(params, `/webhooks/${encodeURIComponent(params.id)}/deliveries`, query))).deliveries;
}
