/**
 * Request and reply documents of the hub API (`/api/v1`), as `../shared/API.md` defines them.
 * Route schemas, the OpenAPI document and the SDK's types all come from here.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ENDPOINT_NAME_PATTERN, NAME_PATTERN, OWNER_PATTERN } from './metadata.ts';
import { ProvenanceRecord } from './provenance.ts';

export const ErrorDocument = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ pattern: '^MODELHUB_[A-Z0-9_]+$' }),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { $id: 'ErrorDocument' },
);
export type ErrorDocument = Static<typeof ErrorDocument>;

export const OwnerNameParams = Type.Object({
  owner: Type.String({ pattern: OWNER_PATTERN }),
  name: Type.String({ pattern: NAME_PATTERN }),
});
export const OwnerNameVersionParams = Type.Object({
  owner: Type.String({ pattern: OWNER_PATTERN }),
  name: Type.String({ pattern: NAME_PATTERN }),
  version: Type.Integer({ minimum: 1 }),
});
/** The params of a handler shared by a servable's route and its `/versions/{version}` twin. */
export type OwnerNameMaybeVersion = Static<typeof OwnerNameParams> & { version?: number };

export const Timing = Type.Object({
  queue_ms: Type.Number(),
  inference_ms: Type.Number(),
  total_ms: Type.Number(),
});
export type Timing = Static<typeof Timing>;

export const RunRequest = Type.Object(
  {
    inputs: Type.Unknown(),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    asynchronous: Type.Optional(Type.Boolean({ default: false })),
    method: Type.Optional(Type.String({ default: 'run' })),
    endpoint: Type.Optional(Type.String({ pattern: ENDPOINT_NAME_PATTERN, description: 'run on this compute endpoint (owner/name)' })),
    provenance: Type.Optional(Type.Boolean({ description: 'reply with a provenance record and store it (docs/provenance.md)' })),
  },
  { additionalProperties: false },
);
export type RunRequest = Static<typeof RunRequest>;

export const RunReply = Type.Object({
  output: Type.Unknown(),
  servable: Type.String(),
  version: Type.Integer(),
  timing: Timing,
  cached: Type.Boolean(),
  provenance: Type.Optional(ProvenanceRecord),
});
export type RunReply = Static<typeof RunReply>;

export const TaskAccepted = Type.Object({ task_id: Type.String() });

export const PublishAccepted = Type.Object({
  task_id: Type.String(),
  servable: Type.String(),
  version: Type.Integer(),
});
export type PublishAccepted = Static<typeof PublishAccepted>;

export const TASK_STATUSES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const TaskStep = Type.Object({
  name: Type.String(),
  status: Type.Union(TASK_STATUSES.map((s) => Type.Literal(s))),
  started_at: Type.Optional(Type.String()),
  completed_at: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
});
export type TaskStep = Static<typeof TaskStep>;

export const TaskDocument = Type.Object(
  {
    task_id: Type.String(),
    kind: Type.Union([Type.Literal('publish'), Type.Literal('run'), Type.Literal('batch')]),
    status: Type.Union(TASK_STATUSES.map((s) => Type.Literal(s))),
    servable: Type.Optional(Type.String()),
    version: Type.Optional(Type.Integer()),
    result: Type.Optional(Type.Unknown()),
    error: Type.Optional(
      Type.Object({
        code: Type.String(),
        message: Type.String(),
        step: Type.Optional(Type.String()),
        details: Type.Optional(Type.Unknown()),
      }),
    ),
    steps: Type.Optional(Type.Array(TaskStep)),
    log: Type.Optional(Type.Array(Type.String())),
    created_at: Type.String(),
    completed_at: Type.Optional(Type.String()),
    /** A batch task's counts as it runs (records done and failed, rate, ETA). */
    progress: Type.Optional(Type.Unknown()),
  },
  { $id: 'TaskDocument' },
);
export type TaskDocument = Static<typeof TaskDocument>;

export const ListQuery = Type.Object({
  owner: Type.Optional(Type.String({ pattern: OWNER_PATTERN })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
});

/** One servable in a listing (`GET /servables`): its latest version. */
export const ServableListItem = Type.Object({
  servable: Type.String(),
  owner: Type.String(),
  name: Type.String(),
  latest_version: Type.Integer(),
  title: Type.String(),
  type: Type.String(),
  visibility: Type.String(),
  identifier: Type.String(),
  updated_at: Type.String(),
});
export type ServableListItem = Static<typeof ServableListItem>;

export const ServableList = Type.Object({
  items: Type.Array(ServableListItem),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});

/**
 * How `GET /search` orders hits. `relevance`: score, then newest publication (without `q` every
 * score is 0, so newest first); `newest`: publication date, then version, whatever the score;
 * `title`: title A-Z ignoring case, then servable name, then newest version.
 */
export const SEARCH_SORTS = ['relevance', 'newest', 'title'] as const;
export type SearchSort = (typeof SEARCH_SORTS)[number];

export const REPRODUCIBILITY_FACETS = ['reproducible', 'drifted', 'fails', 'unchecked'] as const;
export type ReproducibilityFacet = (typeof REPRODUCIBILITY_FACETS)[number];

export const SearchQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 500 })),
  owner: Type.Optional(Type.String({ maxLength: 100 })),
  domain: Type.Optional(Type.String({ maxLength: 200 })),
  author: Type.Optional(Type.String({ maxLength: 200 })),
  type: Type.Optional(Type.String({ maxLength: 50 })),
  doi: Type.Optional(Type.String({ maxLength: 300 })),
  limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 500, default: 20 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, default: 0 })),
  latest: Type.Optional(Type.Boolean({ default: true })),
  // A plain string enum rather than a union of literals: ajv then refuses a bad value with one
  // message ("must be equal to one of the allowed values") instead of one per literal.
  sort: Type.Optional(Type.Unsafe<SearchSort>({ type: 'string', enum: [...SEARCH_SORTS], default: 'relevance' })),
  /** The last reproducibility check's status, or `unchecked` for versions without examples (docs/provenance.md). */
  reproducibility: Type.Optional(Type.Unsafe<ReproducibilityFacet>({ type: 'string', enum: [...REPRODUCIBILITY_FACETS] })),
});
export type SearchQuery = Static<typeof SearchQuery>;

export const SearchHit = Type.Object({
  servable: Type.String(),
  version: Type.Integer(),
  title: Type.String(),
  authors: Type.Array(Type.String()),
  domains: Type.Array(Type.String()),
  type: Type.String(),
  identifier: Type.String(),
  score: Type.Number(),
});
export type SearchHit = Static<typeof SearchHit>;

const FacetCounts = Type.Record(Type.String(), Type.Integer());
export const SearchReply = Type.Object({
  total: Type.Integer(),
  hits: Type.Array(SearchHit),
  facets: Type.Object({
    domain: FacetCounts,
    type: FacetCounts,
    owner: FacetCounts,
    author: Type.Optional(FacetCounts),
    reproducibility: Type.Optional(FacetCounts),
  }),
});
export type SearchReply = Static<typeof SearchReply>;
