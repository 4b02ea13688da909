/**
 * Failed-auth records without a flood: a client sending thousands of bad tokens must not write
 * thousands of audit rows. The first refusal of each (client address, actor, status) in a window
 * (a minute by default) is written at once, as it happens; the rest of that window are counted and
 * written as ONE summary row (`detail.repeated`, the window and a few of the paths) when the
 * window is over. So each client adds at most two rows a minute, whatever it sends.
 */
import type { NewAuditEvent } from './audit-log.ts';

export interface DenialAggregatorOptions {
  /** Length of a window in ms (default 60 000). */
  windowMs?: number;
  /** Keys tracked at once; beyond it every new client shares one overflow key (memory stays bounded). */
  maxKeys?: number;
  /** The clock, in ms since the epoch (tests). */
  now?: () => number;
}

interface Window {
  started: number;
  first: NewAuditEvent;
  repeated: number;
  targets: Set<string>;
}

/** How many distinct paths a summary row names. */
const SUMMARY_TARGETS = 5;

export class DenialAggregator {
  private readonly windows = new Map<string, Window>();
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly write: (event: NewAuditEvent, at: number) => void,
    options: DenialAggregatorOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxKeys = options.maxKeys ?? 10_000;
    this.now = options.now ?? Date.now;
    // Summaries of windows nobody continues are written by this sweep; it never keeps the process up.
    this.timer = setInterval(() => {
      try {
        this.flush(false);
      } catch {
        // A summary that cannot be written (a busy database) is lost; the audit log never stops the hub.
      }
    }, this.windowMs);
    this.timer.unref();
  }

  record(event: NewAuditEvent): void {
    const now = this.now();
    let key = `${event.ip ?? ''}\u0000${event.actor}\u0000${event.status ?? ''}`;
    const open = this.windows.get(key);
    if (open && now - open.started < this.windowMs) {
      open.repeated += 1;
      if (event.target !== undefined && open.targets.size < SUMMARY_TARGETS) open.targets.add(event.target);
      return;
    }
    if (open) this.summarize(key, open);
    if (!open && this.windows.size >= this.maxKeys) {
      key = `overflow\u0000${event.status ?? ''}`;
      const overflow = this.windows.get(key);
      if (overflow && now - overflow.started < this.windowMs) {
        overflow.repeated += 1;
        return;
      }
      if (overflow) this.summarize(key, overflow);
    }
    this.windows.set(key, { started: now, first: event, repeated: 0, targets: new Set() });
    this.write(event, now);
  }

  /** Writes the summaries of finished windows (every window when `all`, as at close). */
  flush(all = true): void {
    const now = this.now();
    for (const [key, window] of [...this.windows]) {
      if (all || now - window.started >= this.windowMs) this.summarize(key, window);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush(true);
  }

  private summarize(key: string, window: Window): void {
    this.windows.delete(key);
    if (window.repeated === 0) return;
    const end = Math.min(this.now(), window.started + this.windowMs);
    this.write(
      {
        ...window.first,
        detail: {
          repeated: window.repeated,
          from: new Date(window.started).toISOString(),
          to: new Date(end).toISOString(),
          targets: [...window.targets],
        },
      },
      end,
    );
  }
}
