/**
 * Documents of the Globus Action Provider API (api_version "1.0"), written from the specification
 * (globus/action-provider-tools `actions_spec.openapi.yaml` and the Action Provider Interface
 * guide). Routes validate with them, the OpenAPI document shows them, tests hold replies to them.
 *
 * Two deliberate widenings, both documented in docs/actions.md:
 * - principals: besides Globus URNs (`urn:globus:auth:identity:<uuid>`, `urn:globus:groups:id:<uuid>`)
 *   the hub names its own users and groups `urn:modelhub:user:<name>` / `urn:modelhub:group:<name>`
 *   and an anonymous caller `urn:modelhub:anonymous`;
 * - optional fields of the status document may be `null`, as the reference toolkit sends them.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ENDPOINT_NAME_PATTERN } from './metadata.ts';

export const PRINCIPAL_URN_PATTERN =
  '^(urn:globus:(auth:identity|groups:id):[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}|urn:modelhub:(user|group):[^\\s]{1,256}|urn:modelhub:anonymous)$';

/** The specification's ISO 8601 duration pattern (years to seconds, weeks allowed). */
export const ISO8601_DURATION_PATTERN =
  '^P(?!$)(\\d+(?:\\.\\d+)?Y)?(\\d+(?:\\.\\d+)?M)?(\\d+(?:\\.\\d+)?W)?(\\d+(?:\\.\\d+)?D)?(T(?=\\d)(\\d+(?:\\.\\d+)?H)?(\\d+(?:\\.\\d+)?M)?(\\d+(?:\\.\\d+)?S)?)?$';

export const PrincipalUrn = Type.String({ pattern: PRINCIPAL_URN_PATTERN });
export const Iso8601Duration = Type.String({ pattern: ISO8601_DURATION_PATTERN });

export const ACTION_STATUSES = ['ACTIVE', 'INACTIVE', 'SUCCEEDED', 'FAILED'] as const;
export const ActionStatusValue = Type.Union(ACTION_STATUSES.map((s) => Type.Literal(s)));
export type ActionStatusValue = (typeof ACTION_STATUSES)[number];

export const ActionRequest = Type.Object(
  {
    request_id: Type.String({ minLength: 1, maxLength: 256 }),
    body: Type.Record(Type.String(), Type.Unknown()),
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    monitor_by: Type.Optional(Type.Array(PrincipalUrn, { uniqueItems: true })),
    manage_by: Type.Optional(Type.Array(PrincipalUrn, { uniqueItems: true })),
    /** The specification still lists it; the reference toolkit dropped it. Accepted and ignored. */
    allowed_clients: Type.Optional(Type.Array(Type.String())),
    deadline: Type.Optional(Type.String({ format: 'date-time' })),
    release_after: Type.Optional(Iso8601Duration),
  },
  { additionalProperties: false, $id: 'ActionRequest' },
);
export type ActionRequest = Static<typeof ActionRequest>;

const nullable = <T extends ReturnType<typeof Type.String>>(schema: T) =>
  Type.Optional(Type.Union([schema, Type.Null()]));

export const ActionStatus = Type.Object(
  {
    action_id: Type.String({ minLength: 1 }),
    status: ActionStatusValue,
    creator_id: PrincipalUrn,
    details: Type.Record(Type.String(), Type.Unknown()),
    label: nullable(Type.String({ minLength: 1, maxLength: 64 })),
    monitor_by: Type.Optional(Type.Array(PrincipalUrn, { uniqueItems: true })),
    manage_by: Type.Optional(Type.Array(PrincipalUrn, { uniqueItems: true })),
    start_time: Type.String({ format: 'date-time' }),
    completion_time: nullable(Type.String({ format: 'date-time' })),
    release_after: Iso8601Duration,
    display_status: nullable(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { $id: 'ActionStatus' },
);
export type ActionStatus = Static<typeof ActionStatus>;

export const ProviderDescription = Type.Object(
  {
    types: Type.Array(Type.Union([Type.Literal('Action'), Type.Literal('Event')]), { minItems: 1 }),
    api_version: Type.Literal('1.0'),
    globus_auth_scope: Type.String({ format: 'uri' }),
    title: Type.String({ minLength: 1, maxLength: 128 }),
    subtitle: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    description: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    keywords: Type.Optional(Type.Array(Type.String())),
    visible_to: Type.Optional(
      Type.Array(Type.Union([PrincipalUrn, Type.Literal('public')]), { uniqueItems: true }),
    ),
    runnable_by: Type.Array(
      Type.Union([PrincipalUrn, Type.Literal('all_authenticated_users')]),
      { uniqueItems: true },
    ),
    administered_by: Type.Optional(Type.Array(PrincipalUrn, { uniqueItems: true })),
    admin_contact: Type.String(),
    synchronous: Type.Boolean(),
    log_supported: Type.Boolean(),
    maximum_deadline: Type.Optional(Iso8601Duration),
    input_schema: Type.Record(Type.String(), Type.Unknown()),
    event_types: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
  },
  { $id: 'ProviderDescription' },
);
export type ProviderDescription = Static<typeof ProviderDescription>;

/** One record of `GET /{action_id}/log`: the fields the interface guide names. */
export const ActionLogEntry = Type.Object({
  time: Type.String({ format: 'date-time' }),
  code: Type.String({ minLength: 1 }),
  description: Type.String(),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type ActionLogEntry = Static<typeof ActionLogEntry>;

export const ActionLog = Type.Object({
  action_id: Type.String(),
  entries: Type.Array(ActionLogEntry),
  /** The page size asked for (the toolkit's PaginationWrapper requires it). */
  limit: Type.Integer(),
  has_next_page: Type.Boolean(),
  marker: Type.Optional(Type.String()),
});
export type ActionLog = Static<typeof ActionLog>;

export const ActionLogQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  /** Opaque paging marker from the previous page. */
  marker: Type.Optional(Type.String({ pattern: '^[0-9]+$' })),
});

/** `GET /actions` (optional enumeration endpoint of the specification). */
export const ActionEnumerationQuery = Type.Object({
  status: Type.Optional(Type.String({ description: 'comma-separated: active,inactive,failed,succeeded' })),
  roles: Type.Optional(Type.String({ description: 'comma-separated: creator_id,monitor_by,manage_by' })),
});

export const ActionEnumeration = Type.Object({ actions: Type.Array(ActionStatus) });

export const ActionIdParams = Type.Object({ action_id: Type.String({ minLength: 1, maxLength: 128 }) });

/** The body the `/actions/inference` provider takes (its introspection's `input_schema`). */
export const InferenceActionBody = Type.Object(
  {
    servable: Type.String({
      pattern: '^[a-z0-9][a-z0-9-]{0,38}/[a-z0-9][a-z0-9._-]{0,63}(@[1-9][0-9]*)?$',
      description: 'owner/name, optionally owner/name@version',
    }),
    version: Type.Optional(Type.Integer({ minimum: 1 })),
    inputs: Type.Unknown({ description: "JSON shaped by the servable's declared run method" }),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    endpoint: Type.Optional(Type.String({ pattern: ENDPOINT_NAME_PATTERN, description: 'a compute endpoint (owner/name) to run on' })),
    provenance: Type.Optional(Type.Boolean({ description: 'accepted for symmetry with the run routes: actions always keep their provenance record' })),
  },
  { additionalProperties: false },
);
export type InferenceActionBody = Static<typeof InferenceActionBody>;
