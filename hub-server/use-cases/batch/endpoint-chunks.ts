/**
 * A batch's chunk on a Slurm endpoint goes as ONE task carrying every record of the chunk (the
 * endpoint runs it as a Slurm job array, slurm-array.ts), instead of one run per record. An
 * endpoint with the local executor keeps the per-record runs (undefined here), which its dynamic
 * batcher batches alike. The caller's right to use the endpoint, and the endpoint's right to run
 * the version, are checked as for any run on it.
 */
import type { ChunkOutcome } from '../../../schemas/endpoints.ts';
import { HubError } from '../../../schemas/errors.ts';
import type { RunService } from '../../../schemas/ports/run-service.ts';
import { assertEndpointMayRun } from '../access.ts';
import type { EndpointDispatcher } from '../endpoint-dispatcher.ts';
import type { BatchState } from './batch-runner.ts';

/** A chunk's deadline when the batch names none: a job array may wait in Slurm's queue a while. */
const CHUNK_DEADLINE_MS = 6 * 60 * 60 * 1000;

export function endpointChunkRunner(dispatcher: EndpointDispatcher, runService: RunService) {
  return async (state: BatchState, inputs: unknown[]): Promise<ChunkOutcome[] | undefined> => {
    const endpoint = await dispatcher.resolve(state.endpoint!, state.viewer);
    if (endpoint.executor !== 'slurm') return undefined;
    const document = await runService.describe({ owner: state.owner, name: state.name, version: state.version }, state.viewer);
    assertEndpointMayRun(endpoint, document);
    const { deadline_ms: deadlineMs, ...parameters } = state.parameters ?? {};
    const deadline = Date.now() + (Number(deadlineMs ?? 0) || CHUNK_DEADLINE_MS);
    const reply = await dispatcher.run(endpoint, document, state.method ?? 'run', { inputs, parameters, deadline }, { chunk: true });
    if (!Array.isArray(reply.output) || reply.output.length !== inputs.length) {
      throw new HubError('SERVABLE_FAILED', `${state.endpoint} answered a chunk of ${inputs.length} records with ${Array.isArray(reply.output) ? reply.output.length : 'no'} outcomes`);
    }
    return reply.output as ChunkOutcome[];
  };
}
