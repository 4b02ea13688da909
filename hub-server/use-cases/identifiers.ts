/**
 * The identifier lifecycle beyond minting: the version relations a new version declares, the
 * citable view of any identifier (its document, relations and tombstone), and keeping a remote
 * agency (DataCite) in line with the registry. The registry is the system of record: an identifier
 * whose remote record could not be written stays `pending` with the reason, and is retried in the
 * background until the agency takes it, so a publish never fails because DataCite is down.
 */
import type { PublishedMetadata, RelatedIdentifier } from '../../schemas/metadata.ts';
import { toHubError } from '../../schemas/errors.ts';
import type { IdentifierMinter } from '../../schemas/ports/identifier-minter.ts';
import type { IdentifierRecord, Registry, VersionRecord } from '../../schemas/ports/registry.ts';
import type { WorkLocks } from '../../schemas/ports/work-locks.ts';
import { dataciteAttributes, type CitationSubject } from './citation-formats.ts';
import { isDoi, landingPath } from '../../schemas/ports/identifier-minter.ts';

/** Relations the hub itself maintains between versions; anything else was declared by the publisher. */
const VERSION_RELATIONS = new Set(['IsVersionOf', 'HasVersion', 'IsNewVersionOf', 'IsPreviousVersionOf']);

type Related = Pick<RelatedIdentifier, 'relatedIdentifier' | 'relatedIdentifierType'>;

/** A DOI is related as a DOI; the hub's own identifiers by the URL at which they resolve. */
export function relatedIdentifierFor(minter: IdentifierMinter, identifier: string): Related {
  if (isDoi(identifier)) return { relatedIdentifier: identifier, relatedIdentifierType: 'DOI' };
  return { relatedIdentifier: minter.resolverUrl?.(identifier) ?? identifier, relatedIdentifierType: 'URL' };
}

function mergeRelations(...lists: RelatedIdentifier[][]): RelatedIdentifier[] {
  const seen = new Set<string>();
  const merged: RelatedIdentifier[] = [];
  for (const relation of lists.flat()) {
    const key = `${relation.relationType} ${relation.relatedIdentifier}`;
    if (seen.has(key)) continue;
    seen.add(key);
    merged.push(relation);
  }
  return merged;
}

/** The work lock of one servable's identifiers. */
const identifierLockName = (owner: string, name: string) => `identifiers ${owner}/${name}`;

const conceptOf = (records: IdentifierRecord[]) => records.find((r) => r.version === undefined)?.identifier;

/**
 * The relations a new version declares in its own document: `IsVersionOf` the concept identifier
 * and `IsNewVersionOf` the version before it (withdrawn ones included: their identifiers still
 * resolve, to a tombstone).
 */
export async function versionRelations(
  registry: Registry,
  minter: IdentifierMinter,
  document: PublishedMetadata,
  conceptIdentifier: string | undefined,
): Promise<RelatedIdentifier[]> {
  const { owner, name, version } = document.hub;
  const relations: RelatedIdentifier[] = [];
  if (conceptIdentifier) relations.push({ ...relatedIdentifierFor(minter, conceptIdentifier), relationType: 'IsVersionOf' });
  const previous = (await registry.listVersions(owner, name)).find((v) => v.version < version && v.document?.hub.identifier);
  if (previous) relations.push({ ...relatedIdentifierFor(minter, previous.document!.hub.identifier), relationType: 'IsNewVersionOf' });
  return mergeRelations(document.datacite.relatedIdentifiers ?? [], relations);
}

/** The identifiers a new version names as its predecessors: their records gain IsPreviousVersionOf. */
export function previousIdentifiers(document: PublishedMetadata): string[] {
  return (document.datacite.relatedIdentifiers ?? [])
    .filter((r) => r.relationType === 'IsNewVersionOf' && r.relatedIdentifierType === 'DOI')
    .map((r) => r.relatedIdentifier);
}

export interface SubjectContext {
  registry: Registry;
  minter: IdentifierMinter;
  landingUrl: (identifier: string) => string;
  /** A version's IsPartOf relations: the public collections that name it (collections/collection-service.ts). */
  partOf?: (owner: string, name: string, version: number) => Promise<RelatedIdentifier[]>;
}

/**
 * What an identifier names, ready to cite: for a version its document with links to the concept
 * and its neighbours; for the concept the latest version with `HasVersion` for each version.
 * `visible` decides which versions may be shown (and linked); undefined when the target is not.
 */
export async function loadCitationSubject(
  context: SubjectContext,
  record: IdentifierRecord,
  visible: (document: PublishedMetadata) => boolean,
): Promise<{ subject: CitationSubject; target: VersionRecord; versions: VersionRecord[] } | undefined> {
  const { registry, minter } = context;
  const versions = (await registry.listVersions(record.owner, record.name)).filter((v) => v.document && visible(v.document));
  const related = (v: VersionRecord) => relatedIdentifierFor(minter, v.document!.hub.identifier);
  let target: VersionRecord | undefined;
  let relations: RelatedIdentifier[];
  if (record.version !== undefined) {
    target = versions.find((v) => v.version === record.version);
    if (!target) return undefined;
    const concept = conceptOf(await registry.listIdentifiers({ owner: record.owner, name: record.name }));
    const previous = versions.find((v) => v.version < record.version!);
    const next = [...versions].reverse().find((v) => v.version > record.version!);
    relations = mergeRelations(
      target.document!.datacite.relatedIdentifiers ?? [],
      concept ? [{ ...relatedIdentifierFor(minter, concept), relationType: 'IsVersionOf' }] : [],
      previous ? [{ ...related(previous), relationType: 'IsNewVersionOf' }] : [],
      next ? [{ ...related(next), relationType: 'IsPreviousVersionOf' }] : [],
      (await context.partOf?.(record.owner, record.name, record.version)) ?? [],
    );
  } else {
    target = versions.find((v) => v.state === 'published') ?? versions[0];
    if (!target) return undefined;
    relations = mergeRelations(
      (target.document!.datacite.relatedIdentifiers ?? []).filter((r) => !VERSION_RELATIONS.has(r.relationType)),
      versions.map((v) => ({ ...related(v), relationType: 'HasVersion' as const })),
    );
  }
  // Only relations to versions the viewer may see: a private version's identifier is not revealed.
  const hidden = new Set(
    (await registry.listVersions(record.owner, record.name))
      .filter((v) => v.document && !visible(v.document))
      .map((v) => relatedIdentifierFor(minter, v.document!.hub.identifier).relatedIdentifier),
  );
  relations = relations.filter((r) => !hidden.has(r.relatedIdentifier));
  const document = target.document!;
  const identifierType = record.version !== undefined ? (document.datacite.identifier?.identifierType ?? (isDoi(record.identifier) ? 'DOI' : 'LOCAL')) : isDoi(record.identifier) ? 'DOI' : 'LOCAL';
  const allWithdrawn = versions.every((v) => v.state === 'withdrawn');
  const withdrawn = target.state === 'withdrawn' && (record.version !== undefined || allWithdrawn);
  const subject: CitationSubject = {
    document,
    identifier: record.identifier,
    identifierType,
    ...(record.version === undefined ? {} : { version: record.version }),
    landingUrl: context.landingUrl(record.identifier),
    relatedIdentifiers: relations,
    ...(withdrawn ? { withdrawn: { at: target.withdrawn_at, reason: target.withdrawn_reason } } : {}),
  };
  return { subject, target, versions };
}

export interface SyncOutcome {
  identifier: string;
  state: string;
  error?: string;
}

const isPublic = (document: PublishedMetadata) => document.hub.visibility === 'public';

/** Runs every piece of work at once: use cases cannot reach an adapter's locks, so the default holds none. */
const UNLOCKED: WorkLocks = {
  kind: 'memory',
  tryWithLock: async (_name, work) => ({ ran: true, value: await work() }),
  withLock: (_name, work) => work(),
  close: async () => undefined,
};

/**
 * Brings a remote agency's records in line with the registry. Does nothing for minters without
 * `push` (the local minter: its identifiers need no one else).
 */
export class IdentifierSync {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  private readonly locks: WorkLocks;

  constructor(
    private readonly options: {
      registry: Registry;
      minter: IdentifierMinter;
      log?: (line: string) => void;
      /**
       * One worker per servable at a time, across replicas (PostgreSQL advisory locks): a pending
       * identifier is pushed by one replica, not by each that finds it pending. The composition
       * root always passes the hub's locks; without them (a sync built on its own) nothing is locked.
       */
      locks?: WorkLocks;
      /** Versions' IsPartOf relations (the collections naming them), pushed with their records. */
      partOf?: SubjectContext['partOf'];
    },
  ) {
    this.locks = options.locks ?? UNLOCKED;
  }

  get remote(): boolean {
    return typeof this.options.minter.push === 'function';
  }

  /**
   * Push identifiers of one servable (those named in `only`, or all of them) to the agency.
   * Failures are recorded on the identifier (`pending`, `last_error`), never thrown.
   */
  async syncServable(owner: string, name: string, only?: readonly string[]): Promise<SyncOutcome[]> {
    if (!this.remote) return [];
    return this.locks.withLock(identifierLockName(owner, name), () => this.pushServable(owner, name, only, false));
  }

  /** The work of syncServable, under the servable's lock; `pendingOnly`: skip what another worker registered meanwhile. */
  private async pushServable(owner: string, name: string, only: readonly string[] | undefined, pendingOnly: boolean): Promise<SyncOutcome[]> {
    const { registry, minter } = this.options;
    if (!minter.push) return [];
    const records = (await registry.listIdentifiers({ owner, name })).filter((r) => (!only || only.includes(r.identifier)) && (!pendingOnly || r.state === 'pending'));
    const landingUrl = (identifier: string) => minter.landingUrl?.(identifier) ?? landingPath(identifier);
    const outcomes: SyncOutcome[] = [];
    // Versions before the concept: the concept's HasVersion list points at records that then exist.
    records.sort((a, b) => (a.version === undefined ? 1 : 0) - (b.version === undefined ? 1 : 0) || (a.version ?? 0) - (b.version ?? 0));
    for (const record of records) {
      const loaded = await loadCitationSubject({ registry, minter, landingUrl, partOf: this.options.partOf }, record, () => true);
      if (!loaded) continue;
      const { subject, target, versions } = loaded;
      let event: 'publish' | 'hide' | undefined;
      if (record.version !== undefined) {
        event = target.state === 'withdrawn' ? 'hide' : isPublic(target.document!) ? 'publish' : undefined;
      } else {
        const live = versions.filter((v) => v.state === 'published');
        event = live.some((v) => isPublic(v.document!)) ? 'publish' : live.length === 0 ? 'hide' : undefined;
      }
      // A findable record is public: it must not name private versions (drafts stay private at DataCite).
      if (event === 'publish') {
        const privateIds = new Set(versions.filter((v) => !isPublic(v.document!)).map((v) => relatedIdentifierFor(minter, v.document!.hub.identifier).relatedIdentifier));
        subject.relatedIdentifiers = subject.relatedIdentifiers.filter((r) => !privateIds.has(r.relatedIdentifier));
      }
      const now = new Date().toISOString();
      try {
        const state = await minter.push({ identifier: record.identifier, attributes: { ...dataciteAttributes(subject) }, ...(event ? { event } : {}) });
        await registry.putIdentifier({ ...record, state, last_error: undefined, updated_at: now });
        outcomes.push({ identifier: record.identifier, state });
        if (record.state === 'pending') this.options.log?.(`identifier ${record.identifier}: registered with ${minter.kind} (${state})`);
      } catch (error) {
        const message = toHubError(error, 'BACKEND_UNAVAILABLE').message;
        await registry.putIdentifier({ ...record, state: 'pending', last_error: message, updated_at: now });
        outcomes.push({ identifier: record.identifier, state: 'pending', error: message });
        this.options.log?.(`identifier ${record.identifier}: pending, will retry: ${message}`);
      }
    }
    return outcomes;
  }

  /** One pass over the `pending` identifiers, servable by servable. */
  async retryPending(limit = 500): Promise<SyncOutcome[]> {
    if (!this.remote) return [];
    // A record never tried yet belongs to a publish still under way (it pushes it itself), unless
    // it is old enough to have been left by a hub that stopped mid-publish.
    const fresh = Date.now() - 60_000;
    const pending = (await this.options.registry.listIdentifiers({ state: 'pending', limit })).filter(
      (r) => r.updated_at !== undefined || Date.parse(r.created_at) < fresh,
    );
    const byServable = new Map<string, { owner: string; name: string; ids: string[] }>();
    for (const record of pending) {
      const key = `${record.owner}/${record.name}`;
      const entry = byServable.get(key) ?? { owner: record.owner, name: record.name, ids: [] };
      entry.ids.push(record.identifier);
      byServable.set(key, entry);
    }
    const outcomes: SyncOutcome[] = [];
    for (const { owner, name, ids } of byServable.values()) {
      // A servable another replica is working on is left to it; what it leaves pending comes round again.
      const worked = await this.locks.tryWithLock(identifierLockName(owner, name), () => this.pushServable(owner, name, ids, true));
      if (worked.ran) outcomes.push(...worked.value);
    }
    return outcomes;
  }

  /** Sync in the background, one run at a time (later requests wait their turn). */
  schedule(work: () => Promise<unknown>): Promise<unknown> {
    const run = (this.running ?? Promise.resolve()).then(work).catch((error) => this.options.log?.(`identifier sync failed: ${toHubError(error).message}`));
    this.running = run;
    return run;
  }

  start(intervalMs: number): void {
    if (!this.remote || this.timer) return;
    this.timer = setInterval(() => void this.schedule(() => this.retryPending()), intervalMs);
    this.timer.unref();
    void this.schedule(() => this.retryPending());
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

/** Minters that want to hear about changes (DataCite) get a listener that syncs in the background. */
export interface ChangeNotifyingMinter extends IdentifierMinter {
  onChange(listener: (change: { owner: string; name: string; identifier?: string }) => void): void;
}

const notifiesChanges = (minter: IdentifierMinter): minter is ChangeNotifyingMinter =>
  typeof (minter as Partial<ChangeNotifyingMinter>).onChange === 'function';

/**
 * The identifier sync of a hub: a minter that announces changes (DataCite) has them synced in the
 * background. `start` begins the periodic retry of pending identifiers once the hub is ready.
 */
export function createIdentifierSync(registry: Registry, minter: IdentifierMinter, locks: WorkLocks, log: (line: string) => void, partOf?: SubjectContext['partOf']): IdentifierSync {
  const sync = new IdentifierSync({ registry, minter, locks, log, ...(partOf ? { partOf } : {}) });
  if (notifiesChanges(minter)) {
    minter.onChange(({ owner, name, identifier }) => {
      void sync.schedule(async () => {
        const concept = conceptOf(await registry.listIdentifiers({ owner, name }));
        await sync.syncServable(owner, name, identifier ? [identifier, ...(concept ? [concept] : [])] : undefined);
      });
    });
  }
  return sync;
}
