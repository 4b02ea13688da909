/**
 * Provenance of runs (docs/provenance.md): the record a run carries when asked (servable identifier,
 * version, file digests, runtime and hub versions, when and how long, digests of inputs and output),
 * stored with the inputs and output so that `GET /api/v1/runs/{id}/crate` can export it as an
 * RO-Crate and a reader can replay it. A reply served from the result cache carries the record of
 * the run that computed it: the gateway keeps that run's id and time with the cached output.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import type { ProvenanceRecord } from '../../schemas/provenance.ts';
import { NumberArray } from '../../schemas/codecs/json-number-arrays.ts';
import type { RunStore, StoredRun } from '../../schemas/ports/run-store.ts';
import { HUB_VERSION, type RuntimeVersions } from './runtime-versions.ts';

/** The run that computed an output: kept with a cached result for the replies it serves. */
export interface RunOrigin {
  run_id: string;
  started_at: string;
  duration_ms: number;
}

export const newOrigin = (durationMs: number): RunOrigin => ({
  run_id: randomUUID(),
  started_at: new Date(Date.now() - durationMs).toISOString(),
  duration_ms: durationMs,
});

/** JSON with object keys sorted (and fast-parsed number arrays as the nested arrays they stand for). */
export function canonicalJsonText(value: unknown): string {
  if (value instanceof NumberArray) return JSON.stringify(value.toNested());
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (ArrayBuffer.isView(value)) return JSON.stringify(Array.from(value as unknown as ArrayLike<number>));
  if (Array.isArray(value)) return `[${value.map(canonicalJsonText).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJsonText(record[key])}`).join(',')}}`;
}

/** sha256 (hex) of a value's canonical JSON: what a provenance record says of inputs and outputs. */
export const jsonSha256 = (value: unknown): string => createHash('sha256').update(canonicalJsonText(value)).digest('hex');

/** Plain JSON of a value that may hold fast-parsed number arrays (for storing). */
export const plainJson = (value: unknown): unknown => JSON.parse(canonicalJsonText(value)) as unknown;

export interface ProvenanceContext {
  document: PublishedMetadata;
  method: string;
  inputs: unknown;
  parameters: Record<string, unknown> | undefined;
  output: unknown;
  origin: RunOrigin;
  /** The signed-in caller (who may read the stored run), or null. */
  caller: string | null;
  endpoint?: string | null;
}

export class ProvenanceService {
  constructor(
    private readonly store: RunStore,
    private readonly runtimes: RuntimeVersions,
  ) {}

  async build(context: ProvenanceContext): Promise<ProvenanceRecord> {
    const { document, origin } = context;
    return {
      run_id: origin.run_id,
      servable: `${document.hub.owner}/${document.hub.name}`,
      version: document.hub.version,
      identifier: document.hub.identifier,
      method: context.method,
      files: document.hub.files.map((file) => ({ path: file.path, sha256: file.sha256, size: file.size })),
      runtime: await this.runtimes.describe(document),
      hub: { name: 'modelhub', version: HUB_VERSION, node: process.version },
      endpoint: context.endpoint ?? null,
      started_at: origin.started_at,
      duration_ms: origin.duration_ms,
      inputs_sha256: jsonSha256(context.inputs),
      parameters_sha256: jsonSha256(context.parameters ?? {}),
      outputs_sha256: jsonSha256(context.output),
    };
  }

  /**
   * The record of this run, stored. A run stored before under the same id (the original of a
   * cached reply) keeps, and returns, its first record.
   */
  async record(context: ProvenanceContext): Promise<ProvenanceRecord> {
    const existing = await this.store.get(context.origin.run_id);
    if (existing) return existing.record;
    const record = await this.build(context);
    await this.store.put({
      record,
      inputs: plainJson(context.inputs),
      parameters: context.parameters ?? {},
      output: plainJson(context.output),
      caller: context.caller,
      stored_at: new Date().toISOString(),
    });
    return record;
  }

  get(runId: string): Promise<StoredRun | undefined> {
    return this.store.get(runId);
  }
}
