/**
 * Citable collections (docs/collections.md): "the models of a paper". A collection names servable
 * versions; it gets its own identifier from the hub's minter (a DOI with DataCite), declares
 * `HasPart` each member, and each member's citation, landing page and DataCite record gain
 * `IsPartOf` it (stored documents are immutable, so the reverse link is added where the record is
 * shown and pushed, as the versions' IsPreviousVersionOf is).
 *
 * Visibility: a collection may only name versions its owner (and the caller) can see; a reader is
 * shown only the members they may see, and what goes to DataCite (public) and into members'
 * IsPartOf (public) is only what everyone may see, so a public collection never reveals a private
 * member, nor a private collection its existence.
 */
import type { RelatedIdentifier } from '../../../schemas/metadata.ts';
import type { CollectionCreate, CollectionListQuery, CollectionMember, CollectionPatch, CollectionView } from '../../../schemas/collections.ts';
import { HubError, toHubError } from '../../../schemas/errors.ts';
import type { CollectionMemberRef, CollectionRecord, CollectionStore } from '../../../schemas/ports/collection-store.ts';
import { isDoi, landingPath, type IdentifierMinter } from '../../../schemas/ports/identifier-minter.ts';
import type { Registry, VersionRecord } from '../../../schemas/ports/registry.ts';
import type { Viewer } from '../../../schemas/ports/viewer.ts';
import { canManage, canView } from '../access.ts';
import { dataciteAttributes, type CitableDocument, type CitationSubject } from '../citation-formats.ts';
import { relatedIdentifierFor, type ChangeNotifyingMinter, type IdentifierSync } from '../identifiers.ts';

/** Everyone: what a public record (DataCite's, a public member's IsPartOf) may show. */
const ANYONE: Viewer = {};

export interface CollectionServiceOptions {
  store: CollectionStore;
  registry: Registry;
  minter: IdentifierMinter;
  publicUrl: string;
  /** Push these member versions' identifiers again (their IsPartOf changed); in the background. */
  resyncMembers?: (members: CollectionMemberRef[]) => void;
  log?: (line: string) => void;
}

const memberKey = (m: CollectionMemberRef) => `${m.owner}/${m.name}@${m.version}`;

/** How a collection's identifier is related: a DOI as a DOI, a local one by its landing page. */
function collectionRelated(identifier: string, publicUrl: string): Pick<RelatedIdentifier, 'relatedIdentifier' | 'relatedIdentifierType'> {
  return isDoi(identifier) ? { relatedIdentifier: identifier, relatedIdentifierType: 'DOI' } : { relatedIdentifier: `${publicUrl}${landingPath(identifier)}`, relatedIdentifierType: 'URL' };
}

/**
 * The `IsPartOf` relations of one servable version: the public collections (not withdrawn) that
 * name it. Used by citations, landing pages and the identifier sync (identifiers.ts).
 */
export function collectionPartOf(store: CollectionStore, publicUrl: string) {
  return async (owner: string, name: string, version: number): Promise<RelatedIdentifier[]> => {
    const { records } = await store.list({ containing: { owner, name, version }, visibleTo: {}, limit: 200 });
    return records.map((r) => ({ ...collectionRelated(r.identifier, publicUrl), relationType: 'IsPartOf' as const }));
  };
}

export class CollectionService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private readonly publicUrl: string;

  /** A version's IsPartOf relations (for citations and landing pages; see collectionPartOf). */
  readonly partOf: (owner: string, name: string, version: number) => Promise<RelatedIdentifier[]>;

  constructor(private readonly options: CollectionServiceOptions) {
    this.publicUrl = options.publicUrl.replace(/\/+$/, '');
    this.partOf = collectionPartOf(options.store, this.publicUrl);
    // A member made private (or public, or withdrawn) changes what the collections' public records
    // may name: those holding it are pushed again. Only minters with remote records announce changes.
    const notifying = options.minter as Partial<ChangeNotifyingMinter>;
    if (typeof notifying.onChange === 'function') {
      notifying.onChange(({ owner, name }) => {
        this.running = this.running.then(() => this.pushContaining(owner, name)).catch((error: unknown) => this.options.log?.(`collection identifiers of ${owner}/${name}: ${toHubError(error).message}`));
      });
    }
  }

  /** Push the record of every collection naming a version of owner/name. */
  private async pushContaining(owner: string, name: string): Promise<void> {
    const { records } = await this.options.store.list({ containing: { owner, name }, withdrawn: true, limit: 500 });
    for (const record of records) await this.push(record);
  }

  /** Background pushes still under way have finished (for a clean stop, and for tests). */
  async idle(): Promise<void> {
    await this.running;
  }

  landingUrl(identifier: string): string {
    return `${this.publicUrl}${landingPath(identifier)}`;
  }

  /** A collection this viewer may see (withdrawn ones too: their tombstone); COLLECTION_NOT_FOUND otherwise. */
  async get(owner: string, name: string, viewer: Viewer): Promise<CollectionRecord> {
    const record = await this.options.store.get(owner, name);
    if (!record || !this.visible(record, viewer)) throw new HubError('COLLECTION_NOT_FOUND', `${owner}/${name}`);
    return record;
  }

  /** A collection by its identifier, if this viewer may see it. */
  async byIdentifier(identifier: string, viewer: Viewer): Promise<CollectionRecord | undefined> {
    const record = await this.options.store.getByIdentifier(identifier);
    return record && this.visible(record, viewer) ? record : undefined;
  }

  visible(record: CollectionRecord, viewer: Viewer): boolean {
    return record.visibility === 'public' || canManage(record.owner, viewer);
  }

  async create(owner: string, name: string, body: CollectionCreate, viewer: Viewer): Promise<CollectionRecord> {
    const existing = await this.options.store.get(owner, name);
    if (existing) throw new HubError('COLLECTION_EXISTS', `${owner}/${name}${existing.withdrawn_at ? ' (withdrawn: its identifier keeps the name)' : ''}`);
    const members = await this.checkMembers(owner, body.members, viewer, []);
    const minted = this.options.minter.collectionIdentifier?.(owner, name) ?? { identifier: `modelhub-collection:${owner}/${name}`, identifierType: 'LOCAL', state: 'local' };
    const now = new Date().toISOString();
    const record: CollectionRecord = {
      owner,
      name,
      title: body.title,
      ...(body.description ? { description: body.description } : {}),
      creators: body.creators,
      members,
      visibility: body.visibility ?? 'public',
      identifier: minted.identifier,
      identifier_type: minted.identifierType,
      identifier_state: minted.state,
      created_at: now,
      updated_at: now,
    };
    await this.options.store.create(record);
    return this.afterChange(record, []);
  }

  async update(owner: string, name: string, patch: CollectionPatch, viewer: Viewer): Promise<CollectionRecord> {
    const record = await this.get(owner, name, viewer);
    if (record.withdrawn_at) throw new HubError('COLLECTION_WITHDRAWN', `${owner}/${name}`);
    const before = record.members;
    const members = patch.members === undefined ? before : await this.checkMembers(owner, patch.members, viewer, before);
    const updated: CollectionRecord = {
      ...record,
      ...(patch.title !== undefined ? { title: patch.title } : {}),
      ...(patch.creators !== undefined ? { creators: patch.creators } : {}),
      ...(patch.visibility !== undefined ? { visibility: patch.visibility } : {}),
      members,
      updated_at: new Date().toISOString(),
    };
    if (patch.description !== undefined) {
      if (patch.description === '') delete updated.description;
      else updated.description = patch.description;
    }
    await this.options.store.update(updated);
    return this.afterChange(updated, before);
  }

  /** Withdraw: the identifier keeps resolving, to a tombstone; members lose their IsPartOf. */
  async withdraw(owner: string, name: string, viewer: Viewer): Promise<CollectionRecord> {
    const record = await this.get(owner, name, viewer);
    if (record.withdrawn_at) return record;
    const withdrawn: CollectionRecord = { ...record, withdrawn_at: new Date().toISOString(), updated_at: new Date().toISOString() };
    await this.options.store.update(withdrawn);
    return this.afterChange(withdrawn, record.members);
  }

  async list(query: CollectionListQuery, viewer: Viewer): Promise<{ total: number; collections: CollectionView[] }> {
    const containing = query.containing ? parseMember(query.containing) : undefined;
    const words = (query.q ?? '').toLowerCase().split(/\s+/).filter((w) => w !== '');
    const { total, records } = await this.options.store.list({
      words,
      ...(query.owner ? { owner: query.owner } : {}),
      ...(containing ? { containing } : {}),
      visibleTo: { ...(viewer.user === undefined ? {} : { user: viewer.user }), ...(viewer.admin ? { admin: true } : {}) },
      limit: query.limit,
      offset: query.offset,
    });
    // A member the reader may not see is not a way to find the collection either.
    const views = await Promise.all(records.map((r) => this.view(r, viewer)));
    const shown = containing ? views.filter((v) => v.members.some((m) => m.servable === `${containing.owner}/${containing.name}` && (containing.version === undefined || m.version === containing.version))) : views;
    return { total: total - (views.length - shown.length), collections: shown };
  }

  /** The members this viewer may see, with their identifiers and states. */
  async visibleMembers(record: CollectionRecord, viewer: Viewer): Promise<{ ref: CollectionMemberRef; version: VersionRecord }[]> {
    const found = await Promise.all(record.members.map(async (ref) => ({ ref, version: await this.options.registry.getVersion(ref.owner, ref.name, ref.version) })));
    return found.filter((m): m is { ref: CollectionMemberRef; version: VersionRecord } => m.version?.document !== undefined && canView(m.version.document, viewer));
  }

  async view(record: CollectionRecord, viewer: Viewer): Promise<CollectionView> {
    const members = await this.visibleMembers(record, viewer);
    return {
      type: 'collection',
      owner: record.owner,
      name: record.name,
      title: record.title,
      ...(record.description ? { description: record.description } : {}),
      creators: record.creators,
      visibility: record.visibility,
      members: members.map(({ ref, version }) => ({
        servable: `${ref.owner}/${ref.name}`,
        version: ref.version,
        identifier: version.document!.hub.identifier,
        title: version.document!.datacite.titles[0]!.title,
        state: version.state,
        landing_url: this.landingUrl(version.document!.hub.identifier),
      })),
      identifier: record.identifier,
      identifier_type: record.identifier_type,
      identifier_state: record.withdrawn_at ? 'withdrawn' : record.identifier_state,
      ...(record.last_error ? { last_error: record.last_error } : {}),
      landing_url: this.landingUrl(record.identifier),
      created_at: record.created_at,
      updated_at: record.updated_at,
      withdrawn: record.withdrawn_at !== undefined,
      ...(record.withdrawn_at ? { withdrawn_at: record.withdrawn_at } : {}),
    };
  }

  /** The collection made citable for this viewer: `HasPart` each member they may see. */
  async citationSubject(record: CollectionRecord, viewer: Viewer): Promise<CitationSubject<CitableDocument>> {
    const members = await this.visibleMembers(record, viewer);
    const document: CitableDocument = {
      datacite: {
        creators: record.creators,
        titles: [{ title: record.title }],
        publisher: 'modelhub',
        publicationYear: record.created_at.slice(0, 4),
        ...(record.description ? { descriptions: [{ description: record.description, descriptionType: 'Abstract' as const }] } : {}),
      },
      hub: { owner: record.owner, name: record.name, publication_date: record.created_at },
    };
    return {
      document,
      resourceTypeGeneral: 'Collection',
      identifier: record.identifier,
      identifierType: record.identifier_type,
      landingUrl: this.landingUrl(record.identifier),
      relatedIdentifiers: members.map(({ version }) => ({ ...relatedIdentifierFor(this.options.minter, version.document!.hub.identifier), relationType: 'HasPart' as const })),
      ...(record.withdrawn_at ? { withdrawn: { at: record.withdrawn_at, reason: 'withdrawn by its owner' } } : {}),
    };
  }

  /**
   * Members as given, checked: each once, each a published version that the owner and the caller
   * can see. Versions already in the collection may stay after they were withdrawn (their
   * identifiers resolve to tombstones), but none is added withdrawn.
   */
  private async checkMembers(owner: string, members: CollectionMember[], viewer: Viewer, before: CollectionMemberRef[]): Promise<CollectionMemberRef[]> {
    const ownerViewer: Viewer = viewer.user === owner ? viewer : { user: owner };
    const kept = new Set(before.map(memberKey));
    const seen = new Set<string>();
    const refs: CollectionMemberRef[] = [];
    for (const member of members) {
      const { owner: memberOwner, name: memberName } = parseMember(member.servable);
      const ref: CollectionMemberRef = { owner: memberOwner, name: memberName, version: member.version };
      const key = memberKey(ref);
      if (seen.has(key)) throw new HubError('BAD_REQUEST', `${key} is named twice in members`);
      seen.add(key);
      const version = await this.options.registry.getVersion(ref.owner, ref.name, ref.version);
      const document = version?.document;
      const usable = document && canView(document, ownerViewer) && canView(document, viewer) && (version.state === 'published' || (version.state === 'withdrawn' && kept.has(key)));
      // An unknown version and one the owner may not see read the same.
      if (!usable) throw new HubError('COLLECTION_MEMBER_NOT_FOUND', key, { details: { member: key } });
      refs.push({ owner: ref.owner, name: ref.name, version: ref.version });
    }
    return refs;
  }

  /** Register the collection's identifier, and have the members whose IsPartOf changed pushed again. */
  private async afterChange(record: CollectionRecord, before: CollectionMemberRef[]): Promise<CollectionRecord> {
    const pushed = await this.push(record);
    const changed = new Map([...before, ...record.members].map((m) => [memberKey(m), m]));
    if (changed.size > 0) this.options.resyncMembers?.([...changed.values()]);
    return pushed;
  }

  /**
   * Bring the remote agency's record (DataCite) in line: findable when public, a draft while private
   * (a findable one made private is hidden), hidden when withdrawn. A failure leaves the identifier
   * `pending` with the reason, retried in the background; the change itself stands.
   */
  private async push(record: CollectionRecord): Promise<CollectionRecord> {
    const { minter, store } = this.options;
    if (!minter.push || record.identifier_type !== 'DOI') return record;
    const subject = await this.citationSubject(record, ANYONE);
    const event = record.withdrawn_at ? 'hide' : record.visibility === 'public' ? 'publish' : undefined;
    let updated: CollectionRecord;
    try {
      const state = await minter.push({ identifier: record.identifier, attributes: { ...dataciteAttributes(subject) }, ...(event ? { event } : {}) });
      updated = { ...record, identifier_state: state };
      delete updated.last_error;
    } catch (error) {
      const message = toHubError(error, 'BACKEND_UNAVAILABLE').message;
      updated = { ...record, identifier_state: 'pending', last_error: message };
      this.options.log?.(`collection identifier ${record.identifier}: pending, will retry: ${message}`);
    }
    await store.update(updated);
    return updated;
  }

  /** One pass over the collections whose identifier is pending. */
  async retryPending(): Promise<void> {
    const { records } = await this.options.store.list({ identifierState: 'pending', withdrawn: true, limit: 500 });
    for (const record of records) await this.push(record);
  }

  start(intervalMs: number): void {
    if (!this.options.minter.push || this.timer) return;
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.retryPending()).catch((error: unknown) => this.options.log?.(`collection identifier retry failed: ${toHubError(error).message}`));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

/** `owner/name[@version]` (validated by the route's pattern). */
function parseMember(text: string): { owner: string; name: string; version?: number } {
  const [servable = '', version] = text.split('@');
  const [owner = '', name = ''] = servable.split('/');
  return { owner, name, ...(version === undefined ? {} : { version: Number(version) }) };
}

/**
 * The members' identifiers pushed again through the identifier sync (whose records then carry the
 * new IsPartOf), one servable at a time in its background queue.
 */
export function resyncThrough(sync: IdentifierSync, registry: Registry): (members: CollectionMemberRef[]) => void {
  return (members) => {
    if (!sync.remote) return;
    void sync.schedule(async () => {
      for (const member of members) {
        const version = await registry.getVersion(member.owner, member.name, member.version);
        if (version?.document) await sync.syncServable(member.owner, member.name, [version.document.hub.identifier]);
      }
    });
  };
}
