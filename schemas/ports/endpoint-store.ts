/**
 * Compute endpoints: agents that users start on their own machines (a workstation, a cluster's
 * login node) and that run the hub's servables there. The store keeps who owns each one, whom it
 * is shared with, what its agent last reported, and the hash of its token (never the token).
 */

export type EndpointExecutor = 'local' | 'slurm';

export interface EndpointRecord {
  owner: string;
  name: string;
  /** The owner's groups when they registered it: the endpoint fetches files as this viewer. */
  owner_groups: string[];
  executor: EndpointExecutor;
  /** What the agent says it offers (cpus, gpus, partition, workers ...), as it last said it. */
  resources: Record<string, unknown>;
  shared_with: { users: string[]; groups: string[] };
  created_at: string;
  /** When its agent last connected or sent a heartbeat. */
  last_seen_at?: string;
}

export interface NewEndpoint {
  owner: string;
  name: string;
  owner_groups: string[];
  executor: EndpointExecutor;
  resources: Record<string, unknown>;
  shared_with?: { users?: string[]; groups?: string[] };
}

export interface EndpointStore {
  /**
   * Create the endpoint, or (same owner and name) update its executor, resources and sharing; either
   * way with a new token, returned once: re-registering an endpoint revokes the token it had.
   */
  register(endpoint: NewEndpoint): Promise<{ endpoint: EndpointRecord; token: string }>;
  get(owner: string, name: string): Promise<EndpointRecord | undefined>;
  /** The endpoint a token belongs to, or undefined. */
  byToken(token: string): Promise<EndpointRecord | undefined>;
  /** Every endpoint, or those of one owner, by owner and name. */
  list(filter?: { owner?: string }): Promise<EndpointRecord[]>;
  seen(owner: string, name: string, at: string, resources?: Record<string, unknown>): Promise<void>;
  /** True when it existed. */
  delete(owner: string, name: string): Promise<boolean>;
  close(): Promise<void>;
}

