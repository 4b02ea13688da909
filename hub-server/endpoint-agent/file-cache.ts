/**
 * The endpoint's copy of servable files: fetched from the hub by digest with the endpoint token,
 * checked against that digest as they are stored (a mismatch is never kept, and never runs), and
 * kept for the next run. Concurrent runs of one version fetch each file once.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { FsBlobStore } from '../adapters/fs-blob-store.ts';
import { HubError } from '../../schemas/errors.ts';
import { ENDPOINT_TOKEN_HEADER } from '../../schemas/endpoints.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';

export class FileCache {
  readonly blobs: FsBlobStore;
  private readonly fetching = new Map<string, Promise<void>>();

  constructor(
    root: string,
    private readonly hub: { url: string; endpoint: string; token: () => string },
  ) {
    this.blobs = new FsBlobStore(root);
  }

  /** Every file of the version, verified, in the cache. */
  async ensure(document: PublishedMetadata): Promise<void> {
    await Promise.all(document.hub.files.map((file) => this.ensureOne(document, file.sha256)));
  }

  private async ensureOne(document: PublishedMetadata, sha256: string): Promise<void> {
    if (await this.blobs.has(sha256)) return;
    let pending = this.fetching.get(sha256);
    if (!pending) {
      pending = this.fetch(document, sha256).finally(() => this.fetching.delete(sha256));
      this.fetching.set(sha256, pending);
    }
    await pending;
  }

  private async fetch(document: PublishedMetadata, sha256: string): Promise<void> {
    const { owner, name, version } = document.hub;
    const query = new URLSearchParams({ servable: `${owner}/${name}`, version: String(version) });
    const url = `${this.hub.url}/api/v1/endpoints/${this.hub.endpoint}/files/${sha256}?${query}`;
    const response = await fetch(url, { headers: { [ENDPOINT_TOKEN_HEADER]: this.hub.token() } });
    if (!response.ok || !response.body) {
      const text = await response.text().catch(() => '');
      throw new HubError('SERVABLE_FAILED', `the endpoint could not fetch ${sha256} of ${owner}/${name}@${version}: ${response.status} ${text}`);
    }
    // put() hashes what it stores and refuses (CHECKSUM_MISMATCH) bytes that are not `sha256`.
    await this.blobs.put(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), sha256);
  }
}
