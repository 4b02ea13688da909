/**
 * Changes to a servable's versions made on one replica (a publish, a withdrawal, a visibility or
 * sharing change), heard by every other: the registry NOTIFYs on one channel, and each replica
 * LISTENs on a connection of its own and drops what it cached about that servable. A listening
 * connection that breaks (PostgreSQL restarted) is opened again; notifications sent meanwhile are
 * lost, so on every (re)connection the replica drops everything it cached. Token revocations come
 * on a second channel, for the replicas' caches of verified tokens.
 */
import pg from 'pg';
import { TOKEN_REVOCATIONS_CHANNEL } from './postgres-token-store.ts';

export const SERVABLE_CHANGES_CHANNEL = 'modelhub_servable_changes';

export interface ChangeFeedOptions {
  /** A servable's versions changed on some replica (`owner/name`). */
  onChange: (owner: string, name: string) => void;
  /** Connected (again): changes may have been missed, forget everything cached. */
  onConnected: () => void;
  /** A token was revoked on some replica (its id): drop it from this replica's cache of verified tokens. */
  onTokenRevoked?: (id: string) => void;
  /** The listening connection broke: changes are not heard until `onConnected` (cache nothing meanwhile). */
  onDisconnected?: () => void;
  log: (message: string, error?: unknown) => void;
  /** Wait before connecting again after a failure (default 1 s). */
  retryMs?: number;
}

export class PostgresChangeFeed {
  private client?: pg.Client;
  private retry?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly options: ChangeFeedOptions,
  ) {}

  /** Connects and listens; resolves once listening (or once the first attempt failed: it keeps trying). */
  async start(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, application_name: 'modelhub-changes' });
    const reconnect = (error?: unknown) => {
      if (this.closed || this.client !== client) return;
      this.client = undefined;
      this.options.onDisconnected?.();
      this.options.log('the PostgreSQL change feed broke; listening again soon', error);
      client.end().catch(() => undefined);
      this.retry = setTimeout(() => void this.start(), this.options.retryMs ?? 1000);
      this.retry.unref();
    };
    this.client = client;
    client.on('error', reconnect);
    client.on('end', () => reconnect());
    client.on('notification', (message) => {
      if (message.channel === TOKEN_REVOCATIONS_CHANNEL && message.payload) this.options.onTokenRevoked?.(message.payload);
      if (message.channel !== SERVABLE_CHANGES_CHANNEL || !message.payload) return;
      const slash = message.payload.indexOf('/');
      this.options.onChange(message.payload.slice(0, slash), message.payload.slice(slash + 1));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${SERVABLE_CHANGES_CHANNEL}`);
      if (this.options.onTokenRevoked) await client.query(`LISTEN ${TOKEN_REVOCATIONS_CHANNEL}`);
      this.options.onConnected();
    } catch (error) {
      reconnect(error);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
