/**
 * What happens to servables, as events the webhooks deliver to their owners (docs/provenance.md):
 * published, build failed, withdrawn, identifier minted, drift detected. The first four are read
 * off the registry, the system of record every publish, withdrawal and identifier goes through
 * (the API, the CLI, a publish finished after a restart), so no path can skip them.
 */
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import type { Registry } from '../../schemas/ports/registry.ts';

import { WEBHOOK_EVENTS } from '../../schemas/webhooks.ts';

/** One list with the webhooks' (schemas/webhooks.ts): every event can be asked for. */
export const HUB_EVENTS = WEBHOOK_EVENTS;
export type HubEventName = (typeof HUB_EVENTS)[number];

export interface HubEvent {
  event: HubEventName;
  /** The servable's owner: only their webhooks hear of it. */
  owner: string;
  name: string;
  version?: number;
  occurred_at: string;
  data: Record<string, unknown>;
}

type Listener = (event: HubEvent) => void;

export class HubEvents {
  private readonly listeners: Listener[] = [];

  on(listener: Listener): void {
    this.listeners.push(listener);
  }

  emit(event: Omit<HubEvent, 'occurred_at'>): void {
    const full = { ...event, occurred_at: new Date().toISOString() };
    for (const listener of this.listeners) listener(full);
  }
}

const summary = (document: PublishedMetadata) => ({
  servable: `${document.hub.owner}/${document.hub.name}`,
  version: document.hub.version,
  title: document.datacite.titles[0]?.title,
  visibility: document.hub.visibility,
  identifier: document.hub.identifier,
});

/**
 * Wraps the registry's writing methods on this instance so that each successful write also emits
 * its event; returns a function that puts the originals back. `onPublished` runs first for a
 * committed version (the reproducibility checker's hook).
 */
export function observeRegistry(registry: Registry, events: HubEvents, onPublished?: (document: PublishedMetadata) => void): () => void {
  const original = {
    commitVersion: registry.commitVersion,
    updateTask: registry.updateTask,
    failVersion: registry.failVersion,
    withdraw: registry.withdraw,
    putIdentifier: registry.putIdentifier,
  };
  registry.commitVersion = async (document) => {
    // The check result is the hub's to fill in: a publisher cannot declare their model reproducible.
    if (document.hub.reproducibility) delete document.hub.reproducibility;
    await original.commitVersion.call(registry, document);
  };
  // Published means ready: the publish task SUCCEEDED, after the registry commit and the indexing
  // (so that a check's result, indexed afterwards, is not overwritten by the publish's own indexing).
  registry.updateTask = async (taskId, patch) => {
    await original.updateTask.call(registry, taskId, patch);
    const result = patch.result as { servable?: unknown; version?: unknown; identifier?: unknown; output?: unknown } | undefined;
    if (patch.status !== 'SUCCEEDED' || typeof result?.servable !== 'string' || typeof result.version !== 'number' || !('identifier' in result) || 'output' in result) return;
    const [owner, name] = result.servable.split('/') as [string, string];
    const record = await registry.getVersion(owner, name, result.version);
    if (!record?.document || record.state !== 'published') return;
    onPublished?.(record.document);
    events.emit({ event: 'servable.published', owner, name, version: result.version, data: summary(record.document) });
  };
  registry.failVersion = async (owner, name, version) => {
    await original.failVersion.call(registry, owner, name, version);
    events.emit({ event: 'servable.build_failed', owner, name, version, data: { servable: `${owner}/${name}`, version } });
  };
  registry.withdraw = async (owner, name, version, reason) => {
    const versions = await original.withdraw.call(registry, owner, name, version, reason);
    for (const withdrawn of versions) {
      events.emit({ event: 'servable.withdrawn', owner, name, version: withdrawn, data: { servable: `${owner}/${name}`, version: withdrawn, reason } });
    }
    return versions;
  };
  registry.putIdentifier = async (record) => {
    const before = await registry.getIdentifier(record.identifier);
    await original.putIdentifier.call(registry, record);
    // Minted: the identifier exists (local) or the agency holds it (draft, findable, registered);
    // `pending` is a registration still to be retried.
    if (record.state !== 'pending' && before?.state !== record.state) {
      events.emit({
        event: 'identifier.minted',
        owner: record.owner,
        name: record.name,
        ...(record.version === undefined ? {} : { version: record.version }),
        data: { identifier: record.identifier, state: record.state, servable: `${record.owner}/${record.name}`, ...(record.version === undefined ? { concept: true } : { version: record.version }) },
      });
    }
  };
  return () => Object.assign(registry, original);
}
