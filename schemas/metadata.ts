/**
 * The servable metadata document, in three blocks as DLHub has them:
 * - `datacite`: the DataCite 4 record (what a citation and a DOI need),
 * - `hub`: where the servable lives in this hub (owner, name, version, visibility, files),
 * - `servable`: how to run it (runtime type and the declared methods with their argument types).
 *
 * These TypeBox schemas are plain JSON Schemas: ajv validates with them, fastify documents routes
 * with them and `Static<>` derives the TypeScript types, so nothing here is written twice.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const OWNER_PATTERN = '^[a-z0-9][a-z0-9-]{0,38}$';
export const NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';
/** Users are named like owners (a user owns the servables of that name); groups like servables. */
export const GROUP_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';
/** A compute endpoint: `owner/name`, with the servable name rules on each half. */
export const ENDPOINT_NAME_PATTERN = '^[a-z0-9][a-z0-9-]{0,38}/[a-z0-9][a-z0-9._-]{0,63}$';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/** Whom a servable can be shared with: hub users, or Globus Auth identities (docs/access.md). */
export const SHARE_USER_PATTERN = `^([a-z0-9][a-z0-9-]{0,38}|urn:globus:auth:identity:${UUID})$`;
/** Which groups: hub groups, or Globus groups. */
export const SHARE_GROUP_PATTERN = `^([a-z0-9][a-z0-9._-]{0,63}|urn:globus:groups:id:${UUID})$`;

export const ORCID_PATTERN = '^(https://orcid\\.org/)?\\d{4}-\\d{4}-\\d{4}-\\d{3}[\\dX]$';

const NameIdentifier = Type.Object(
  {
    nameIdentifier: Type.String({ minLength: 1 }),
    nameIdentifierScheme: Type.String({ minLength: 1, examples: ['ORCID'] }),
    schemeUri: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const Creator = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'Family, Given — as DataCite writes it' }),
    nameType: Type.Optional(Type.Union([Type.Literal('Personal'), Type.Literal('Organizational')])),
    givenName: Type.Optional(Type.String()),
    familyName: Type.Optional(Type.String()),
    affiliation: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    orcid: Type.Optional(Type.String({ pattern: ORCID_PATTERN })),
    nameIdentifiers: Type.Optional(Type.Array(NameIdentifier)),
  },
  { additionalProperties: false },
);
export type Creator = Static<typeof Creator>;

export const RELATION_TYPES = [
  'IsCitedBy', 'Cites', 'IsSupplementTo', 'IsSupplementedBy', 'IsContinuedBy', 'Continues',
  'IsDescribedBy', 'Describes', 'HasMetadata', 'IsMetadataFor', 'HasVersion', 'IsVersionOf',
  'IsNewVersionOf', 'IsPreviousVersionOf', 'IsPartOf', 'HasPart', 'IsReferencedBy', 'References',
  'IsDocumentedBy', 'Documents', 'IsCompiledBy', 'Compiles', 'IsVariantFormOf', 'IsOriginalFormOf',
  'IsIdenticalTo', 'IsReviewedBy', 'Reviews', 'IsDerivedFrom', 'IsSourceOf', 'IsRequiredBy',
  'Requires', 'IsObsoletedBy', 'Obsoletes',
] as const;

export const RELATED_IDENTIFIER_TYPES = [
  'ARK', 'arXiv', 'bibcode', 'DOI', 'EAN13', 'EISSN', 'Handle', 'IGSN', 'ISBN', 'ISSN', 'ISTC',
  'LISSN', 'LSID', 'PMID', 'PURL', 'UPC', 'URL', 'URN', 'w3id',
] as const;

const literalUnion = <T extends readonly string[]>(values: T) =>
  Type.Union(values.map((value) => Type.Literal(value)) as never) as unknown as TSchema & {
    static: T[number];
  };

export const RelatedIdentifier = Type.Object(
  {
    relatedIdentifier: Type.String({ minLength: 1 }),
    relatedIdentifierType: literalUnion(RELATED_IDENTIFIER_TYPES),
    relationType: literalUnion(RELATION_TYPES),
  },
  { additionalProperties: false },
);
export type RelatedIdentifier = Static<typeof RelatedIdentifier>;

export const DataciteBlock = Type.Object(
  {
    identifier: Type.Optional(
      Type.Object(
        {
          identifier: Type.String({ minLength: 1 }),
          identifierType: Type.String({ minLength: 1, examples: ['DOI', 'URL'] }),
        },
        { additionalProperties: false },
      ),
    ),
    creators: Type.Array(Creator, { minItems: 1 }),
    titles: Type.Array(
      Type.Object(
        {
          title: Type.String({ minLength: 1 }),
          titleType: Type.Optional(Type.String()),
          lang: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
      { minItems: 1 },
    ),
    publisher: Type.Optional(Type.String({ minLength: 1, description: 'defaults to the hub' })),
    publicationYear: Type.Optional(
      Type.String({ pattern: '^[0-9]{4}$', description: 'defaults to the year of publication' }),
    ),
    resourceType: Type.Optional(
      Type.Object(
        {
          resourceTypeGeneral: Type.Literal('Model'),
          resourceType: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    descriptions: Type.Optional(
      Type.Array(
        Type.Object(
          {
            description: Type.String({ minLength: 1 }),
            descriptionType: Type.Optional(
              Type.Union([
                Type.Literal('Abstract'),
                Type.Literal('Methods'),
                Type.Literal('TechnicalInfo'),
                Type.Literal('Other'),
              ]),
            ),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    subjects: Type.Optional(
      Type.Array(
        Type.Object(
          { subject: Type.String({ minLength: 1 }), subjectScheme: Type.Optional(Type.String()) },
          { additionalProperties: false },
        ),
      ),
    ),
    relatedIdentifiers: Type.Optional(Type.Array(RelatedIdentifier)),
    rightsList: Type.Optional(
      Type.Array(
        Type.Object(
          {
            rights: Type.String({ minLength: 1 }),
            rightsUri: Type.Optional(Type.String()),
            rightsIdentifier: Type.Optional(Type.String()),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    fundingReferences: Type.Optional(
      Type.Array(
        Type.Object(
          {
            funderName: Type.String({ minLength: 1 }),
            funderIdentifier: Type.Optional(Type.String()),
            awardNumber: Type.Optional(Type.String()),
            awardTitle: Type.Optional(Type.String()),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);
export type DataciteBlock = Static<typeof DataciteBlock>;

export const SERVABLE_TYPES = [
  'onnx', 'keras', 'tfjs', 'tf-savedmodel', 'python', 'sklearn', 'torch', 'container',
] as const;
export const ServableType = literalUnion(SERVABLE_TYPES);
export type ServableType = (typeof SERVABLE_TYPES)[number];

/** Tensor element types, named as numpy names them; the v2 protocol names are derived in tensors.ts. */
export const DTYPES = [
  'bool', 'uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'int32', 'int64',
  'float16', 'float32', 'float64', 'string',
] as const;
export const Dtype = literalUnion(DTYPES);
export type Dtype = (typeof DTYPES)[number];

/**
 * One argument of a method: what the gateway checks a run's inputs against before the model runs.
 * Recursive: lists, dicts and tuples hold further argument types.
 */
export const ArgumentType = Type.Recursive(
  (Self) =>
    Type.Union([
      Type.Object(
        {
          type: Type.Literal('ndarray'),
          shape: Type.Array(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]), {
            description: 'null marks a dynamic dimension (a leading null is the batch)',
          }),
          dtype: Dtype,
          description: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
      Type.Object(
        {
          type: Type.Union([
            Type.Literal('number'),
            Type.Literal('integer'),
            Type.Literal('string'),
            Type.Literal('boolean'),
            Type.Literal('file'),
            Type.Literal('any'),
          ]),
          description: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
      Type.Object(
        {
          type: Type.Literal('list'),
          item_type: Self,
          description: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
      Type.Object(
        {
          type: Type.Literal('dict'),
          properties: Type.Record(Type.String(), Self),
          description: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
      Type.Object(
        {
          type: Type.Literal('tuple'),
          element_types: Type.Array(Self),
          description: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ]),
  { $id: 'ArgumentType' },
);
export type ArgumentType = Static<typeof ArgumentType>;
export type NdarrayArgument = Extract<ArgumentType, { type: 'ndarray' }>;

/**
 * Methods refer to ArgumentType by `$ref` rather than embedding it: embedded twice, its `$id` would
 * name two schemas. Validators must know ArgumentType (schemas/validate.ts adds it).
 */
const ArgumentTypeRef = Type.Ref(ArgumentType);

export const Method = Type.Object(
  {
    input: ArgumentTypeRef,
    output: ArgumentTypeRef,
    parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    method_details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type Method = Static<typeof Method>;

export const BatchingOptions = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    max_batch_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
    max_queue_delay_us: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
    preferred_batch_sizes: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }))),
  },
  { additionalProperties: false },
);

/**
 * A PEP 508 requirement without a URL: a name, optional extras, optional version clauses (bare or
 * in parentheses) and an optional environment marker. It starts with a letter or digit, so it can
 * never be read as an option of pip.
 */
export const PEP508_PATTERN =
  "^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?" +
  '(?:\\s*\\[\\s*[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\\s*,\\s*[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)*\\s*\\])?' +
  '(?:\\s*\\(?\\s*(?:===|==|~=|!=|<=|>=|<|>)\\s*[A-Za-z0-9.*+!_-]+(?:\\s*,\\s*(?:===|==|~=|!=|<=|>=|<|>)\\s*[A-Za-z0-9.*+!_-]+)*\\s*\\)?)?' +
  `(?:\\s*;\\s*[A-Za-z0-9_.'"<>=!~ ()-]+)?$`;
/** A Debian package name (Debian Policy 5.6.1): lower case, at least two characters, never a leading '-'. */
export const DEBIAN_PACKAGE_PATTERN = '^[a-z0-9][a-z0-9+.-]+$';

export const ServableEnvironment = Type.Object(
  {
    python: Type.Optional(
      Type.Array(Type.String({ pattern: PEP508_PATTERN, maxLength: 300 }), {
        maxItems: 500,
        description: 'PEP 508 requirements pip installs into a virtual environment shared by servables that declare the same',
      }),
    ),
    debian: Type.Optional(
      Type.Array(Type.String({ pattern: DEBIAN_PACKAGE_PATTERN, maxLength: 100 }), {
        maxItems: 500,
        description: 'Debian packages (container builds only: the hub never installs packages on its host)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ServableEnvironment = Static<typeof ServableEnvironment>;

export const ServableBlock = Type.Object(
  {
    type: ServableType,
    model_file: Type.Optional(Type.String({ description: 'the main model file among hub.files' })),
    // `run` is required; further methods (e.g. predict_proba) may sit beside it.
    methods: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), Method, { required: ['run'], additionalProperties: false }),
    runtime: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    options: Type.Optional(
      Type.Object(
        {
          deterministic: Type.Optional(Type.Boolean({ default: true })),
          batching: Type.Optional(BatchingOptions),
          container_isolation: Type.Optional(Type.Boolean()),
          unpack_inputs: Type.Optional(Type.Boolean()),
          autobatch: Type.Optional(Type.Boolean()),
          timeout_ms: Type.Optional(Type.Integer({ minimum: 1 })),
          pinned: Type.Optional(Type.Boolean()),
          /** A compute endpoint (owner/name) runs go to when they name none and the caller may use it. */
          endpoint: Type.Optional(Type.String({ pattern: ENDPOINT_NAME_PATTERN })),
        },
        { additionalProperties: false },
      ),
    ),
    environment: Type.Optional(ServableEnvironment),
    python: Type.Optional(
      Type.Object(
        {
          module: Type.Optional(Type.String()),
          function: Type.Optional(Type.String()),
          class_name: Type.Optional(Type.String()),
          method: Type.Optional(
            Type.String({ description: 'the method of class_name that run calls (default run)' }),
          ),
          init_args: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ServableBlock = Static<typeof ServableBlock>;

export const StoredFile = Type.Object(
  {
    path: Type.String(),
    sha256: Type.String({ pattern: '^[a-f0-9]{64}$' }),
    size: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type StoredFile = Static<typeof StoredFile>;

export const Visibility = Type.Union([Type.Literal('public'), Type.Literal('private')]);

export const HubBlock = Type.Object(
  {
    owner: Type.String({ pattern: OWNER_PATTERN }),
    name: Type.String({ pattern: NAME_PATTERN }),
    version: Type.Optional(Type.Integer({ minimum: 1, description: 'assigned by the hub' })),
    domains: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 80 }))),
    visibility: Type.Optional(Visibility),
    shared_with: Type.Optional(
      Type.Object(
        {
          users: Type.Optional(Type.Array(Type.String({ pattern: SHARE_USER_PATTERN }), { maxItems: 1000 })),
          groups: Type.Optional(Type.Array(Type.String({ pattern: SHARE_GROUP_PATTERN }), { maxItems: 1000 })),
        },
        { additionalProperties: false },
      ),
    ),
    type: Type.Optional(Type.Literal('servable')),
    files: Type.Optional(Type.Array(StoredFile, { description: 'filled by the hub' })),
    dependencies: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    publication_date: Type.Optional(Type.String({ format: 'date-time' })),
    identifier: Type.Optional(Type.String()),
    inspection: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    reproducibility: Type.Optional(
      Type.Object(
        {
          status: Type.Union([Type.Literal('reproducible'), Type.Literal('drifted'), Type.Literal('fails')]),
          summary: Type.String({ description: 'e.g. "drifted: output \'y\' differs by 3e-2"' }),
          checked_at: Type.String(),
        },
        { additionalProperties: false, description: "filled by the hub: the last check of the version's examples (docs/provenance.md)" },
      ),
    ),
    source: Type.Optional(
      Type.Object(
        {
          git: Type.String({ description: 'the repository the files were fetched from' }),
          ref: Type.String({ description: 'the tag, branch or commit asked for' }),
          commit: Type.String({ pattern: '^[0-9a-f]{40,64}$', description: 'the commit the files are from' }),
        },
        { additionalProperties: false, description: 'filled by the hub for a publish from a git repository' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type HubBlock = Static<typeof HubBlock>;

export const ServableMetadata = Type.Object(
  {
    datacite: DataciteBlock,
    hub: HubBlock,
    servable: ServableBlock,
  },
  { additionalProperties: false, $id: 'ServableMetadata' },
);
export type ServableMetadata = Static<typeof ServableMetadata>;

/** The stored document: the hub has filled in version, identifier, files and dates. */
export type PublishedMetadata = ServableMetadata & {
  hub: HubBlock & {
    version: number;
    identifier: string;
    files: StoredFile[];
    publication_date: string;
    visibility: 'public' | 'private';
  };
};
