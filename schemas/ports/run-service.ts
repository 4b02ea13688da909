/**
 * What the HTTP routes, the v2 protocol and the Action Provider call to run a servable. The gateway
 * implements it; none of its callers knows which runtime, batcher or cache is behind it.
 */
import type { RunReply } from '../api.ts';
import type { PublishedMetadata } from '../metadata.ts';
import type { Viewer } from './viewer.ts';

export interface ServableRef {
  owner: string;
  name: string;
  /** undefined: the latest published version. */
  version?: number;
}

export interface RunCall {
  inputs: unknown;
  parameters?: Record<string, unknown>;
  /** Method name, `run` by default. */
  method?: string;
  /** Absolute deadline in ms since the epoch. */
  deadline?: number;
  signal?: AbortSignal;
  /** A compute endpoint (owner/name) to run on instead of the hub. */
  endpoint?: string;
  /** Reply with a provenance record, and store it (docs/provenance.md). */
  provenance?: boolean;
  /** The signed-in user running it, for usage counts and who may read a stored run; null: anonymous. */
  caller?: string | null;
  /** false: the hub's own runs (reproducibility checks), left out of usage counts. */
  accounted?: boolean;
}

/**
 * Runs that go to a compute endpoint (the one the call names, or the servable's default): their
 * reply, or undefined when the hub runs it itself.
 */
export type RemoteRunner = (
  document: PublishedMetadata,
  methodName: string,
  call: RunCall,
  viewer: Viewer,
) => Promise<(Pick<RunReply, 'output' | 'timing'> & { /** owner/name of the endpoint that ran it */ endpoint?: string }) | undefined>;

export interface RunService {
  /** Validates inputs against the declared method (422), runs, returns the hub API's run reply. */
  run(ref: ServableRef, call: RunCall, viewer: Viewer): Promise<RunReply>;
  /** The published document a viewer may see; SERVABLE_NOT_FOUND/VERSION_NOT_FOUND otherwise. */
  describe(ref: ServableRef, viewer: Viewer): Promise<PublishedMetadata>;
}
