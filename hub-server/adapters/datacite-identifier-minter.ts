/**
 * DOIs through the DataCite REST API (JSON:API documents, HTTP basic auth with the repository id
 * and password). Minting only computes the DOI, so a publish never waits on DataCite; `push`
 * (driven by services/identifier-retry.ts) creates the draft, publishes it (findable) when the
 * servable is public, updates its metadata and hides it on withdrawal. DOIs are readable and
 * deterministic, so a retried push names the same DOI:
 *   version   {prefix}/modelhub.{owner}.{name}.v{N}
 *   concept   {prefix}/modelhub.{owner}.{name}.all   (every version)
 *   collection {prefix}/modelhub-collection.{owner}.{name}   (docs/collections.md)
 * Owners hold no dots and the two endings differ, so no two servables can share a DOI; collections
 * start differently, so none shares one with a servable.
 */
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { HubError } from '../../schemas/errors.ts';
import { isDoi, landingPath, type IdentifierMinter, type IdentifierPush, type MintedIdentifier } from '../../schemas/ports/identifier-minter.ts';

export interface DataciteMinterOptions {
  /** The REST API, e.g. https://api.datacite.org or https://api.test.datacite.org. */
  url: string;
  prefix: string;
  repositoryId: string;
  password?: string;
  /** The hub's public URL: DOIs resolve to its landing pages. */
  publicUrl: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export const JSON_API = 'application/vnd.api+json';

export function dataciteDoi(prefix: string, owner: string, name: string, version?: number): string {
  return `${prefix}/modelhub.${owner}.${name}.${version === undefined ? 'all' : `v${version}`}`;
}

/** The servable a DOI of this scheme names; undefined for any other DOI. */
export function parseDataciteDoi(doi: string): { owner: string; name: string; version?: number } | undefined {
  const match = /^10\.\d{4,9}\/modelhub\.([a-z0-9][a-z0-9-]{0,38})\.([a-z0-9][a-z0-9._-]{0,63})\.(all|v[1-9]\d{0,15})$/.exec(doi.toLowerCase());
  if (!match) return undefined;
  const [, owner, name, tail] = match as unknown as [string, string, string, string];
  return tail === 'all' ? { owner, name } : { owner, name, version: Number(tail.slice(1)) };
}

type ChangeListener = (change: { owner: string; name: string; identifier?: string }) => void;

interface DoiDocument {
  data?: { id?: string; attributes?: { state?: string } };
  errors?: { status?: string; title?: string; source?: string }[];
}

export class DataciteIdentifierMinter implements IdentifierMinter {
  readonly kind = 'datacite';
  private readonly options: Required<Omit<DataciteMinterOptions, 'password'>> & { password?: string };
  private readonly listeners: ChangeListener[] = [];

  constructor(options: DataciteMinterOptions) {
    this.options = {
      fetch: globalThis.fetch,
      timeoutMs: 15_000,
      ...options,
      url: options.url.replace(/\/+$/, ''),
      publicUrl: options.publicUrl.replace(/\/+$/, ''),
    };
  }

  async mint(document: PublishedMetadata): Promise<MintedIdentifier> {
    const { owner, name, version } = document.hub;
    return {
      identifier: dataciteDoi(this.options.prefix, owner, name, version),
      identifierType: 'DOI',
      // Nothing is registered yet: identifier-retry.ts pushes it once the version is committed.
      state: 'pending',
      conceptIdentifier: dataciteDoi(this.options.prefix, owner, name),
    };
  }

  collectionIdentifier(owner: string, name: string): MintedIdentifier {
    // Registered by the collection service's push (use-cases/collections/), retried while pending.
    return { identifier: `${this.options.prefix}/modelhub-collection.${owner}.${name}`, identifierType: 'DOI', state: 'pending' };
  }

  /** Metadata or visibility changed: the sync service pushes it (and retries) in the background. */
  async update(document: PublishedMetadata): Promise<void> {
    this.emit({ owner: document.hub.owner, name: document.hub.name, identifier: document.hub.identifier });
  }

  async hide(identifier: string): Promise<void> {
    const parsed = parseDataciteDoi(identifier);
    if (parsed) this.emit({ owner: parsed.owner, name: parsed.name, identifier });
  }

  onChange(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  private emit(change: Parameters<ChangeListener>[0]): void {
    for (const listener of this.listeners) listener(change);
  }

  resolverUrl(identifier: string): string {
    return isDoi(identifier) ? `https://doi.org/${identifier}` : `${this.options.publicUrl}/api/v1/identifiers/${encodeURIComponent(identifier)}`;
  }

  landingUrl(identifier: string): string {
    return `${this.options.publicUrl}${landingPath(identifier)}`;
  }

  /**
   * Create the DOI (a draft, or findable at once) or update it, applying the state change DataCite
   * allows from where it is: `publish` only from draft/registered, `hide` only from findable.
   */
  async push(request: IdentifierPush): Promise<string> {
    const existing = await this.call('GET', `/dois/${request.identifier}`, undefined, [200, 404]);
    const state = existing.status === 200 ? existing.body.data?.attributes?.state : undefined;
    let event: string | undefined = request.event;
    if (event === 'hide' && state !== 'findable') event = undefined;
    if (event === 'publish' && state === 'findable') event = undefined;
    // Findable cannot go back to draft: a version made private again is hidden (registered).
    if (event === undefined && request.event === undefined && state === 'findable') event = 'hide';
    const attributes = { ...request.attributes, doi: request.identifier, ...(event ? { event } : {}) };
    const body = { data: { type: 'dois', ...(state ? { id: request.identifier } : {}), attributes } };
    let reply = state
      ? await this.call('PUT', `/dois/${request.identifier}`, body, [200, 201])
      : await this.call('POST', '/dois', body, [200, 201, 422]);
    if (reply.status === 422) {
      // Created meanwhile (a concurrent push, or a crash after DataCite took it): update instead.
      if (!(reply.body.errors ?? []).some((e) => /taken/i.test(e.title ?? ''))) throw refused('POST', '/dois', reply.status, reply.body, '');
      reply = await this.call('PUT', `/dois/${request.identifier}`, { data: { ...body.data, id: request.identifier } }, [200, 201]);
    }
    return reply.body.data?.attributes?.state ?? (event === 'publish' ? 'findable' : event === 'hide' ? 'registered' : 'draft');
  }

  private async call(method: string, path: string, body: unknown, expected: number[]): Promise<{ status: number; body: DoiDocument }> {
    const { url, repositoryId, password, timeoutMs } = this.options;
    const auth = Buffer.from(`${repositoryId}:${password ?? ''}`).toString('base64');
    let response: Response;
    try {
      response = await this.options.fetch(`${url}${path}`, {
        method,
        headers: {
          accept: JSON_API,
          authorization: `Basic ${auth}`,
          ...(body === undefined ? {} : { 'content-type': JSON_API }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new HubError('BACKEND_UNAVAILABLE', `DataCite at ${url} cannot be reached (${method} ${path}: ${cause})`, { cause: error });
    }
    const text = await response.text();
    let parsed: DoiDocument = {};
    try {
      parsed = text ? (JSON.parse(text) as DoiDocument) : {};
    } catch {
      parsed = {};
    }
    if (!expected.includes(response.status)) throw refused(method, path, response.status, parsed, text);
    return { status: response.status, body: parsed };
  }
}

function refused(method: string, path: string, status: number, body: DoiDocument, text: string): HubError {
  const reasons = (body.errors ?? []).map((e) => [e.source, e.title].filter(Boolean).join(': ')).join('; ') || text.slice(0, 200);
  return new HubError('BACKEND_UNAVAILABLE', `DataCite refused ${method} ${path} with ${status}${reasons ? `: ${reasons}` : ''}`, {
    details: { status, errors: body.errors },
  });
}
