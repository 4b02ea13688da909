/**
 * Webhooks (docs/webhooks.md): owners register URLs for the events of their servables
 * (hub-events.ts). Each event becomes one delivery per matching webhook, queued in the store (so a
 * restart loses none) and sent off the request path by a small dispatcher: POSTed as JSON, signed
 * with HMAC-SHA256 over `<timestamp>.<body>`, retried with exponential backoff, and after the last
 * attempt marked failed, with its webhook marked `failing` until a later delivery succeeds.
 *
 * Only webhooks of the servable's owner match its events, and only the owner or an admin may
 * register one on the owner's servables (the routes check), so a private servable's events reach
 * no one who may not see it.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { HubError } from '../../schemas/errors.ts';
import type { DeliveryRecord, WebhookRecord, WebhookSender, WebhookStore } from '../../schemas/ports/webhook-store.ts';
import type { HubEvent } from './hub-events.ts';

export interface WebhookOptions {
  /** Attempts per delivery before it is marked failed (MODELHUB_WEBHOOK_ATTEMPTS). */
  attempts: number;
  /** Wait before the first retry; doubled for each further one (MODELHUB_WEBHOOK_BACKOFF_SECONDS)... */
  backoffMs: number;
  /** ...up to this (MODELHUB_WEBHOOK_BACKOFF_MAX_SECONDS). */
  backoffMaxMs: number;
  /** How long a claimed delivery is left to its dispatcher (longer than an attempt's time limit). */
  leaseMs: number;
  /** Finished deliveries stay in the log this long (MODELHUB_WEBHOOK_LOG_DAYS). */
  logDays: number;
  /** Deliveries in flight at once. */
  concurrency?: number;
  log?: (message: string, error?: unknown) => void;
}

/** The most webhooks one owner's servables may have. */
export const MAX_WEBHOOKS_PER_OWNER = 100;

export const SIGNATURE_HEADER = 'x-modelhub-signature-256';
export const TIMESTAMP_HEADER = 'x-modelhub-timestamp';
export const EVENT_HEADER = 'x-modelhub-event';
export const DELIVERY_HEADER = 'x-modelhub-delivery';

/** The signature header's value: `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>`. */
export function signatureOf(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The delay before attempt `attempt + 1` after `attempt` failed ones. */
export function backoffMs(options: Pick<WebhookOptions, 'backoffMs' | 'backoffMaxMs'>, attempt: number): number {
  return Math.min(options.backoffMaxMs, options.backoffMs * 2 ** Math.max(0, attempt - 1));
}

export class WebhookService {
  private readonly inFlight = new Map<string, AbortController>();
  private timer: NodeJS.Timeout | undefined;
  private pruner: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  private enqueued: Promise<void> = Promise.resolve();

  constructor(
    readonly store: WebhookStore,
    readonly sender: WebhookSender,
    private readonly options: WebhookOptions,
  ) {}

  async register(input: { owner: string; name: string | null; url: string; events: string[]; secret?: string; description?: string; created_by: string }): Promise<WebhookRecord> {
    // Each event becomes one delivery per webhook: an owner cannot make one publish cost thousands.
    if ((await this.store.list(input.owner)).length >= MAX_WEBHOOKS_PER_OWNER) {
      throw new HubError('CONFLICT', `${input.owner} already has ${MAX_WEBHOOKS_PER_OWNER} webhooks, the most an owner may have: remove one first`);
    }
    await this.sender.checkUrl(input.url);
    const webhook: WebhookRecord = {
      id: randomUUID(),
      owner: input.owner,
      name: input.name,
      url: input.url,
      events: [...new Set(input.events)],
      secret: input.secret ?? `whsec_${randomBytes(32).toString('base64url')}`,
      description: input.description ?? null,
      created_by: input.created_by,
      created_at: new Date().toISOString(),
      state: 'active',
      failing_since: null,
    };
    await this.store.create(webhook);
    return webhook;
  }

  /**
   * An event from HubEvents: queued for every matching webhook after the current call stack (the
   * publish or check that raised it never waits for the queue, nor fails with it).
   */
  handle(event: HubEvent): void {
    if (this.closed) return;
    this.enqueued = this.enqueued
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => this.enqueue(event))
      .catch((error: unknown) => this.options.log?.(`could not queue the webhook deliveries of ${event.event} on ${event.owner}/${event.name}`, error));
  }

  /** Resolves once every event handled so far is in the queue. */
  settled(): Promise<void> {
    return this.enqueued;
  }

  private async enqueue(event: HubEvent): Promise<void> {
    const webhooks = await this.store.matching(event.owner, event.name, event.event);
    if (webhooks.length === 0) return;
    const now = new Date().toISOString();
    const deliveries: DeliveryRecord[] = webhooks.map((webhook) => {
      const id = randomUUID();
      const payload = JSON.stringify({
        id,
        event: event.event,
        occurred_at: event.occurred_at,
        webhook_id: webhook.id,
        servable: `${event.owner}/${event.name}`,
        ...(event.version === undefined ? {} : { version: event.version }),
        data: event.data,
      });
      return { id, webhook_id: webhook.id, event: event.event, payload, state: 'pending', attempts: 0, created_at: now, next_attempt_at: now, last_attempt_at: null, last_status: null, last_error: null, delivered_at: null };
    });
    await this.store.enqueue(deliveries);
    this.wake(0);
  }

  /** Starts sending: what is queued (also from before a restart) and everything queued later. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.wake(0);
    // The delivery log would otherwise only grow: finished deliveries go after MODELHUB_WEBHOOK_LOG_DAYS.
    const prune = () => void this.prune().catch((error: unknown) => this.options.log?.('could not prune the webhook delivery log', error));
    prune();
    this.pruner = setInterval(prune, 3_600_000);
    this.pruner.unref();
  }

  /** Removes finished deliveries older than the log keeps; how many. */
  prune(now = Date.now()): Promise<number> {
    return this.store.prune(new Date(now - this.options.logDays * 86_400_000).toISOString());
  }

  private wake(delayMs: number): void {
    if (!this.started || this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    // At least every minute, in case a time was missed; never more than that apart.
    this.timer = setTimeout(() => void this.pump(), Math.max(0, Math.min(delayMs, 60_000)));
    this.timer.unref();
  }

  private async pump(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    try {
      const free = (this.options.concurrency ?? 8) - this.inFlight.size;
      if (free > 0) {
        // Claimed for longer than an attempt can take: another replica's dispatcher leaves them alone.
        const now = Date.now();
        const due = await this.store.claim(new Date(now).toISOString(), free, new Date(now + this.options.leaseMs).toISOString());
        for (const delivery of due) void this.attempt(delivery);
      }
      if (this.closed) return;
      const next = await this.store.nextDue();
      if (next !== undefined && this.inFlight.size < (this.options.concurrency ?? 8)) this.wake(Date.parse(next) - Date.now());
      else if (next !== undefined) this.wake(60_000);
    } catch (error) {
      this.options.log?.('the webhook dispatcher could not read its queue; trying again', error);
      this.wake(5_000);
    }
  }

  private async attempt(delivery: DeliveryRecord): Promise<void> {
    const controller = new AbortController();
    this.inFlight.set(delivery.id, controller);
    try {
      const webhook = await this.store.get(delivery.webhook_id);
      if (!webhook) return; // deleted meanwhile (its deliveries went with it)
      const timestamp = String(Math.floor(Date.now() / 1000));
      const headers = {
        'user-agent': 'modelhub-webhooks',
        [EVENT_HEADER]: delivery.event,
        [DELIVERY_HEADER]: delivery.id,
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: signatureOf(webhook.secret, timestamp, delivery.payload),
      };
      let status: number | null = null;
      let error: string | null = null;
      try {
        status = await this.sender.post(webhook.url, headers, delivery.payload, controller.signal);
        if (status < 200 || status > 299) error = `the receiver answered HTTP ${status}`;
      } catch (failure) {
        // Stopped by close: given back, sent again after the restart (or by another replica).
        if (this.closed) {
          await this.store.release([delivery.id], new Date().toISOString());
          return;
        }
        error = failure instanceof Error ? failure.message : String(failure);
      }
      const attempts = delivery.attempts + 1;
      const at = new Date();
      const state = error === null ? 'delivered' : attempts >= this.options.attempts ? 'failed' : 'pending';
      const next = state === 'pending' ? new Date(at.getTime() + backoffMs(this.options, attempts)) : at;
      await this.store.recordAttempt(delivery, { state, attempts, at: at.toISOString(), status, error, next_attempt_at: next.toISOString() });
      if (state === 'failed') this.options.log?.(`webhook ${webhook.id} (${webhook.url}): delivery ${delivery.id} failed ${attempts} times; the webhook is marked failing`);
    } catch (error) {
      if (!this.closed) this.options.log?.(`webhook delivery ${delivery.id} could not be recorded`, error);
    } finally {
      this.inFlight.delete(delivery.id);
      if (!this.closed) this.wake(0);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pruner) clearInterval(this.pruner);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.enqueued;
    for (const controller of this.inFlight.values()) controller.abort();
    // Let the aborted attempts unwind before the store closes.
    while (this.inFlight.size > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
