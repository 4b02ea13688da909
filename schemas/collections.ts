/**
 * Citable collections (docs/collections.md): "the models of a paper", a titled list of servable
 * versions with its own identifier, landing page and citations. These schemas validate the
 * requests of `/api/v1/collections` and give their TypeScript types.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Creator, NAME_PATTERN, OWNER_PATTERN, Visibility } from './metadata.ts';

export const CollectionMember = Type.Object(
  {
    servable: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,38}/[a-z0-9][a-z0-9._-]{0,63}$', description: 'owner/name' }),
    version: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
);
export type CollectionMember = Static<typeof CollectionMember>;

const Members = Type.Array(CollectionMember, { maxItems: 500, description: 'servable versions, each once, in the order given' });
const Title = Type.String({ minLength: 1, maxLength: 500 });
const Description = Type.String({ maxLength: 10_000 });
const Creators = Type.Array(Creator, { minItems: 1, maxItems: 200 });

export const CollectionParams = Type.Object({
  owner: Type.String({ pattern: OWNER_PATTERN }),
  name: Type.String({ pattern: NAME_PATTERN }),
});
export type CollectionParams = Static<typeof CollectionParams>;

/** `POST /collections/{owner}/{name}`. */
export const CollectionCreate = Type.Object(
  {
    title: Title,
    description: Type.Optional(Description),
    creators: Creators,
    members: Members,
    visibility: Type.Optional(Visibility),
  },
  { additionalProperties: false },
);
export type CollectionCreate = Static<typeof CollectionCreate>;

/** `PATCH /collections/{owner}/{name}`: what is given replaces what was. */
export const CollectionPatch = Type.Partial(CollectionCreate, { additionalProperties: false, minProperties: 1 });
export type CollectionPatch = Static<typeof CollectionPatch>;

/** A member as a reader sees it: the version's identifier and state besides its name. */
export const CollectionMemberView = Type.Object({
  servable: Type.String(),
  version: Type.Integer(),
  identifier: Type.String(),
  title: Type.String(),
  state: Type.String({ description: 'published or withdrawn' }),
  landing_url: Type.String(),
});

export const CollectionView = Type.Object({
  type: Type.Literal('collection'),
  owner: Type.String(),
  name: Type.String(),
  title: Type.String(),
  description: Type.Optional(Type.String()),
  creators: Type.Array(Creator),
  visibility: Visibility,
  members: Type.Array(CollectionMemberView, { description: 'the members this reader may see' }),
  identifier: Type.String(),
  identifier_type: Type.String({ description: 'DOI, or LOCAL' }),
  identifier_state: Type.String({ description: 'local, draft, findable, registered, or pending (retried)' }),
  last_error: Type.Optional(Type.String()),
  landing_url: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
  withdrawn: Type.Boolean(),
  withdrawn_at: Type.Optional(Type.String()),
});
export type CollectionView = Static<typeof CollectionView>;

export const CollectionListQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 500, description: 'words that must all appear in the title, description, creators or name' })),
  owner: Type.Optional(Type.String({ pattern: OWNER_PATTERN })),
  containing: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,38}/[a-z0-9][a-z0-9._-]{0,63}(@[1-9][0-9]{0,15})?$', description: 'owner/name[@version]: collections with that member' })),
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
});
export type CollectionListQuery = Static<typeof CollectionListQuery>;

export const CollectionList = Type.Object({
  total: Type.Integer(),
  collections: Type.Array(CollectionView),
});
