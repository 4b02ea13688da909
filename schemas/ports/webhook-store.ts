/**
 * Webhooks (docs/webhooks.md): URLs an owner registers for events on their servables, and the
 * persistent queue of deliveries to them with each one's attempts, so that a restart loses none.
 */

export type WebhookState = 'active' | 'failing';
export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface WebhookRecord {
  id: string;
  /** Whose servables it hears about. */
  owner: string;
  /** One servable of the owner's, or null: all of them. */
  name: string | null;
  url: string;
  /** Event names (`servable.published`, …) it wants. */
  events: string[];
  /** The HMAC-SHA256 key of its signatures (kept as given: the hub must sign with it). */
  secret: string;
  description: string | null;
  created_by: string;
  created_at: string;
  /** `failing` once a delivery used up its attempts; `active` again after the next success. */
  state: WebhookState;
  failing_since: string | null;
}

export interface DeliveryRecord {
  id: string;
  webhook_id: string;
  event: string;
  /** The exact JSON text POSTed (the bytes the signature covers, after the timestamp). */
  payload: string;
  state: DeliveryState;
  attempts: number;
  created_at: string;
  next_attempt_at: string;
  last_attempt_at: string | null;
  /** The receiver's HTTP status of the last attempt; null when it did not answer. */
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
}

export interface DeliveryOutcome {
  state: DeliveryState;
  attempts: number;
  at: string;
  status: number | null;
  error: string | null;
  next_attempt_at: string;
}

export interface WebhookStore {
  create(webhook: WebhookRecord): Promise<void>;
  get(id: string): Promise<WebhookRecord | undefined>;
  /** Webhooks on `owner`'s servables, or every webhook (undefined: for admins). */
  list(owner: string | undefined): Promise<WebhookRecord[]>;
  /** Removes the webhook with its delivery log; false when there was none. */
  delete(id: string): Promise<boolean>;
  /** The webhooks that want `event` on owner/name. */
  matching(owner: string, name: string, event: string): Promise<WebhookRecord[]>;
  enqueue(deliveries: DeliveryRecord[]): Promise<void>;
  /**
   * Takes up to `limit` pending deliveries due at `now` (ISO), oldest first, and moves their
   * `next_attempt_at` to `leaseUntil`, so that no other dispatcher (another replica sharing the
   * store) takes them meanwhile; one that dies holding them leaves them due again then.
   */
  claim(now: string, limit: number, leaseUntil: string): Promise<DeliveryRecord[]>;
  /** Gives claimed deliveries back, due now (a dispatcher stopping before their attempt ended). */
  release(ids: readonly string[], now: string): Promise<void>;
  /** When the next pending delivery is due (ISO); undefined when none is pending. */
  nextDue(): Promise<string | undefined>;
  /** The result of an attempt; sets the webhook `failing` (failed) or `active` (delivered) with it. */
  recordAttempt(delivery: DeliveryRecord, outcome: DeliveryOutcome): Promise<void>;
  /** Removes finished (delivered or failed) deliveries created before `before` (ISO); how many. */
  prune(before: string): Promise<number>;
  /** The delivery log of a webhook, newest first. */
  deliveries(webhookId: string, limit: number): Promise<DeliveryRecord[]>;
  close(): Promise<void>;
}

/** Sends deliveries over HTTP, refusing addresses a hub must not reach (docs/webhooks.md). */
export interface WebhookSender {
  /** Throws HubError WEBHOOK_URL_REFUSED for a URL this hub will not deliver to. */
  checkUrl(url: string): Promise<void>;
  /** POSTs `body`; the receiver's status, or a thrown error (refused address, timeout, connection). */
  post(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<number>;
}
