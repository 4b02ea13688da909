/**
 * Compute endpoints: the REST documents of `/api/v1/endpoints` and the messages the hub and an
 * endpoint's agent exchange over the agent's one outbound WebSocket.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { PublishedMetadata } from './metadata.ts';
import { NAME_PATTERN, OWNER_PATTERN, SHARE_GROUP_PATTERN, SHARE_USER_PATTERN } from './metadata.ts';

export const ENDPOINT_EXECUTORS = ['local', 'slurm'] as const;
/** The header that carries an endpoint's own token (never a user token). */
export const ENDPOINT_TOKEN_HEADER = 'x-modelhub-endpoint-token';
/** Where the agent connects (WebSocket upgrade), under the hub's URL. */
export const ENDPOINT_CONNECT_PATH = '/api/v1/endpoints/connect';

export const RegisterEndpointRequest = Type.Object(
  {
    name: Type.String({ pattern: NAME_PATTERN }),
    executor: Type.Optional(Type.Union(ENDPOINT_EXECUTORS.map((e) => Type.Literal(e)), { default: 'local' })),
    resources: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    shared_with: Type.Optional(
      Type.Object(
        {
          users: Type.Optional(Type.Array(Type.String({ pattern: SHARE_USER_PATTERN }), { maxItems: 1000 })),
          groups: Type.Optional(Type.Array(Type.String({ pattern: SHARE_GROUP_PATTERN }), { maxItems: 1000 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type RegisterEndpointRequest = Static<typeof RegisterEndpointRequest>;

export const EndpointDocument = Type.Object({
  endpoint: Type.String({ description: 'owner/name' }),
  owner: Type.String(),
  name: Type.String(),
  status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
  last_seen: Type.Union([Type.String(), Type.Null()]),
  executor: Type.String(),
  resources: Type.Record(Type.String(), Type.Unknown()),
  /** Runs waiting for the agent (queued while it is offline) and runs it is doing. */
  queued: Type.Integer(),
  running: Type.Integer(),
  created_at: Type.String(),
  /** Shown to its owner only. */
  shared_with: Type.Optional(Type.Object({ users: Type.Array(Type.String()), groups: Type.Array(Type.String()) })),
});
export type EndpointDocument = Static<typeof EndpointDocument>;

export const RegisteredEndpoint = Type.Intersect([EndpointDocument, Type.Object({ token: Type.String({ description: 'shown once' }) })]);

export const EndpointParams = Type.Object({
  owner: Type.String({ pattern: OWNER_PATTERN }),
  name: Type.String({ pattern: NAME_PATTERN }),
});

export interface TaskError {
  code: string;
  message: string;
  details?: unknown;
}

/** Hub → agent. */
export type HubMessage =
  | {
      type: 'task';
      task_id: string;
      document: PublishedMetadata;
      method: string;
      inputs: unknown;
      parameters?: Record<string, unknown>;
      /** ms since the epoch. */
      deadline: number;
      /**
       * A batch chunk: `inputs` is an array, one run's inputs per record, and the result's
       * `output` is a `ChunkOutcome[]` in the same order (a Slurm endpoint runs it as a job array).
       */
      chunk?: boolean;
    }
  | { type: 'welcome'; endpoint: string; heartbeat_ms: number };

/** One record's outcome in a batch chunk's result. */
export type ChunkOutcome = { output: unknown } | { error: TaskError };

/** Agent → hub. */
export type AgentMessage =
  | { type: 'heartbeat'; resources?: Record<string, unknown> }
  | { type: 'result'; task_id: string; output: unknown; inference_ms: number }
  | { type: 'failed'; task_id: string; error: TaskError };
