/**
 * Open Inference Protocol requests with `parameters.endpoint` (or for a servable with a default
 * endpoint): the tensors go to the compute
 * endpoint as the hub API's JSON inputs (through the gateway, with its access rules), and the
 * JSON output comes back as tensors of the declared output, for the protocol's reply.
 */
import { HubError } from '../../schemas/errors.ts';
import type { Gateway } from '../use-cases/gateway/gateway.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import type { Method, PublishedMetadata } from '../../schemas/metadata.ts';
import { ENDPOINT_NAME_PATTERN } from '../../schemas/metadata.ts';
import type { ServableValue, Tensor } from '../../schemas/ports/servable.ts';
import type { ProvenanceRecord } from '../../schemas/provenance.ts';
import { decodeInputs, tensorToJson } from '../../schemas/codecs/tensors.ts';

const ENDPOINT = new RegExp(ENDPOINT_NAME_PATTERN);

export async function inferOnEndpoint(
  gateway: Gateway,
  document: PublishedMetadata,
  method: Method,
  tensors: Record<string, Tensor>,
  parameters: Record<string, unknown>,
  viewer: Viewer,
  outputName: string,
  provenance = false,
): Promise<{ raw: ServableValue; provenance?: ProvenanceRecord }> {
  const { endpoint, deadline_ms: deadlineMs, ...rest } = parameters;
  // As on the run route: a relative deadline bounds the wait for an offline endpoint.
  const relative = Number(deadlineMs ?? NaN);
  const deadline = Number.isFinite(relative) && relative > 0 ? { deadline: Date.now() + relative } : {};
  // Without one, the servable's default endpoint where the caller may use it, else the hub.
  if (endpoint !== undefined && (typeof endpoint !== 'string' || !ENDPOINT.test(endpoint))) throw new HubError('BAD_REQUEST', 'parameters.endpoint must be owner/name');
  const inputs = method.input.type === 'dict' ? Object.fromEntries(Object.entries(tensors).map(([name, tensor]) => [name, tensorToJson(tensor)])) : tensorToJson(Object.values(tensors)[0]!);
  const { hub } = document;
  const reply = await gateway.run({ owner: hub.owner, name: hub.name, version: hub.version }, { inputs, parameters: rest, ...deadline, ...(endpoint === undefined ? {} : { endpoint }), ...(provenance ? { provenance } : {}) }, viewer);
  const record = reply.provenance ? { provenance: reply.provenance } : {};
  if (method.output.type !== 'ndarray' && method.output.type !== 'dict') return { raw: { kind: 'json', value: reply.output }, ...record };
  // The declared output read back as tensors (its dtype and shape checked), named as the protocol names them.
  const value = decodeInputs({ ...method, input: method.output }, 'tensors', reply.output);
  if (value.kind === 'tensors' && method.output.type === 'ndarray') return { raw: { kind: 'tensors', tensors: { [outputName]: Object.values(value.tensors)[0]! } }, ...record };
  return { raw: value, ...record };
}
