/**
 * Runs actions: starts a servable run for each new action, answers at once when the run ends
 * within a short wait, keeps the status and a step log in the store, honours deadlines and
 * cancellation, resumes actions a restart interrupted, and releases completed actions once their
 * `release_after` has passed.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ActionRequest, ActionStatus } from '../../../schemas/actions.ts';
import { HubError, toHubError } from '../../../schemas/errors.ts';
import type { Viewer } from '../../../schemas/ports/viewer.ts';
import type { JobRunner } from '../job-runner.ts';
import type { RunService, ServableRef } from '../../../schemas/ports/run-service.ts';
import type { ActionLogPage, ActionRecord, ActionStore } from '../../../schemas/ports/action-store.ts';
import { secondsToDuration } from './iso-duration.ts';
import { creatorUrn } from './principals.ts';

export interface ActionEngineOptions {
  /** How long /run waits for a run to finish before answering ACTIVE. */
  syncWaitMs: number;
  /** Restarts an action survives before it is failed instead of run again. */
  maxAttempts: number;
  /** How often expired actions are looked for. */
  sweepIntervalMs: number;
  /**
   * Run again, at start, the actions a stop left ACTIVE (default true). Off where the store is
   * shared by replicas: a starting replica cannot tell another live replica's actions from those of
   * one that died, and must not run them twice.
   */
  resumeInterrupted?: boolean;
  /**
   * The replicas' durable work queue (PostgreSQL mode): each action runs as a job leased to the
   * replica running it, and another replica resumes it (`resume`) if that one dies.
   */
  jobs?: Pick<JobRunner, 'track'>;
}

export interface ActionTarget {
  ref: ServableRef;
  inputs: unknown;
  parameters?: Record<string, unknown>;
  /** A compute endpoint (owner/name) the body names. */
  endpoint?: string;
}

interface Running {
  controller: AbortController;
  done: Promise<void>;
  timer?: NodeJS.Timeout;
}

const now = () => new Date().toISOString();

/** JSON with sorted keys: the same request always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const hashRequest = (request: ActionRequest): string =>
  createHash('sha256').update(canonicalJson(request)).digest('hex');

/** Where a stored action's run goes: from its provider and its request body. */
export function targetOf(provider: string, body: Record<string, unknown>): ActionTarget {
  const parameters = body.parameters as Record<string, unknown> | undefined;
  const version = typeof body.version === 'number' ? body.version : undefined;
  const endpoint = typeof body.endpoint === 'string' ? { endpoint: body.endpoint } : {};
  if (provider === 'inference') {
    const match = /^([^/]+)\/([^@]+)(?:@(\d+))?$/.exec(String(body.servable));
    if (!match) throw new HubError('BAD_REQUEST', `body.servable must be owner/name: ${String(body.servable)}`);
    return {
      ref: { owner: match[1], name: match[2], version: version ?? (match[3] ? Number(match[3]) : undefined) },
      inputs: body.inputs,
      parameters,
      ...endpoint,
    };
  }
  const [, owner, name] = provider.split('/');
  return { ref: { owner, name, version }, inputs: body.inputs, parameters, ...endpoint };
}

export function toStatusDocument(record: ActionRecord): ActionStatus {
  const monitorBy = record.request.monitor_by ?? [];
  const manageBy = record.request.manage_by ?? [];
  return {
    action_id: record.actionId,
    status: record.status,
    creator_id: record.creator,
    details: record.details,
    label: record.request.label ?? null,
    monitor_by: monitorBy.includes(record.creator) ? monitorBy : [record.creator, ...monitorBy],
    manage_by: manageBy.includes(record.creator) ? manageBy : [record.creator, ...manageBy],
    start_time: record.startTime,
    completion_time: record.completionTime,
    release_after: secondsToDuration(record.releaseAfterSeconds),
    display_status: record.displayStatus,
  };
}

const errorDetails = (error: HubError) => ({
  error: { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) },
});

export class ActionEngine {
  private readonly running = new Map<string, Running>();
  private sweeper?: NodeJS.Timeout;
  private closing = false;

  constructor(
    private readonly store: ActionStore,
    private readonly runService: RunService,
    private readonly options: ActionEngineOptions,
  ) {}

  /** Resumes what a restart interrupted and starts the expiry sweeper. */
  async start(): Promise<void> {
    await this.store.releaseExpired(Date.now());
    const interrupted = this.options.resumeInterrupted === false ? [] : await this.store.listByStatus(['ACTIVE', 'INACTIVE']);
    for (const record of interrupted) await this.resumeRecord(record, 'The hub restarted while the action ran; running it again');
    // A failed sweep (the store briefly unavailable) is simply tried again at the next interval.
    this.sweeper = setInterval(() => void this.store.releaseExpired(Date.now()).catch(() => undefined), this.options.sweepIntervalMs);
    this.sweeper.unref();
  }

  /** Runs again an interrupted action (deadline and attempts permitting); answers the run, if one started. */
  private async resumeRecord(record: ActionRecord, why: string): Promise<Running | undefined> {
    if (record.deadline !== null && record.deadline <= Date.now()) {
      await this.finish(record, 'FAILED', 'Deadline passed', {
        error: { code: 'MODELHUB_DEADLINE_EXCEEDED', message: 'The deadline passed while the hub was down' },
      }, 'DeadlineExceeded');
      return undefined;
    }
    if (record.attempts >= this.options.maxAttempts) {
      await this.finish(record, 'FAILED', 'Interrupted', {
        error: {
          code: 'MODELHUB_INTERNAL',
          message: `The hub restarted during this action ${record.attempts} times; it was not run again`,
        },
      }, 'ActionAbandoned');
      return undefined;
    }
    await this.log(record, 'ActionResumed', why, { attempt: record.attempts + 1 });
    return this.execute(record);
  }

  /**
   * PostgreSQL mode: resumes an action whose replica stopped while running it (its job's lease ran
   * out); does nothing when the action has ended meanwhile. Resolves when the run has ended.
   */
  async resume(actionId: string): Promise<void> {
    const record = await this.store.get(actionId);
    if (!record || (record.status !== 'ACTIVE' && record.status !== 'INACTIVE')) return;
    const running = await this.resumeRecord(record, 'The replica running this action stopped; another replica runs it again');
    await running?.done;
  }

  /** PostgreSQL mode: the action's job was given up (its replicas kept stopping): it fails with the reason. */
  async abandon(actionId: string, reason: string): Promise<void> {
    const record = await this.store.get(actionId);
    if (!record || (record.status !== 'ACTIVE' && record.status !== 'INACTIVE')) return;
    await this.finish(record, 'FAILED', 'Interrupted', { error: { code: 'MODELHUB_INTERNAL', message: `The action was not finished: ${reason}` } }, 'ActionAbandoned');
  }

  /**
   * Starts an action, or returns the one this request_id already started (`created: false`).
   * The caller has checked the body and the caller's right to run.
   */
  async submit(input: {
    provider: string;
    request: ActionRequest;
    viewer: Viewer;
    releaseAfterSeconds: number;
  }): Promise<{ status: ActionStatus; created: boolean }> {
    const creator = creatorUrn(input.viewer);
    const requestHash = hashRequest(input.request);
    const existing = await this.store.findByRequest(input.provider, creator, input.request.request_id);
    if (existing) {
      if (existing.requestHash !== requestHash) {
        // The specification lists 400 for a /run that cannot be accepted; it has no 409 there.
        throw new HubError(
          'BAD_REQUEST',
          `request_id ${input.request.request_id} was already used with a different request (action ${existing.actionId})`,
          { details: { reason: 'request_id_reused', action_id: existing.actionId } },
        );
      }
      return { status: toStatusDocument(existing), created: false };
    }
    const record: ActionRecord = {
      actionId: randomUUID(),
      provider: input.provider,
      creator,
      requestId: input.request.request_id,
      requestHash,
      request: input.request,
      viewer: input.viewer,
      status: 'ACTIVE',
      displayStatus: 'Queued',
      details: { servable: describeTarget(input.provider, input.request.body) },
      startTime: now(),
      completionTime: null,
      releaseAfterSeconds: input.releaseAfterSeconds,
      deadline: input.request.deadline ? Date.parse(input.request.deadline) : null,
      attempts: 0,
    };
    try {
      await this.store.insert(record);
    } catch (error) {
      // The same request_id submitted at the same moment (on another replica, say): one insert wins
      // and the other answers with the action it made, as a repeated /run does.
      const winner = error instanceof HubError && error.code === 'MODELHUB_CONFLICT'
        ? await this.store.findByRequest(input.provider, creator, input.request.request_id)
        : undefined;
      if (winner && winner.requestHash === requestHash) return { status: toStatusDocument(winner), created: false };
      throw error;
    }
    await this.log(record, 'ActionStarted', `Action accepted for ${describeTarget(input.provider, input.request.body)}`);
    const running = await this.execute(record);
    // Durable before the reply: if this replica dies now, another resumes the action.
    await this.options.jobs?.track('action', record.actionId, {}, running.done);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      running.done,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.options.syncWaitMs);
      }),
    ]);
    clearTimeout(timer);
    return { status: toStatusDocument((await this.store.get(record.actionId)) ?? record), created: true };
  }

  /** The stored action, unless it is unknown, under another provider, or past its release. */
  async find(provider: string, actionId: string): Promise<ActionRecord> {
    const record = await this.store.get(actionId);
    if (!record || record.provider !== provider) throw new HubError('ACTION_NOT_FOUND', actionId);
    if (record.completionTime !== null) {
      const expires = Date.parse(record.completionTime) + record.releaseAfterSeconds * 1000;
      if (expires <= Date.now()) {
        await this.store.delete(actionId);
        throw new HubError('ACTION_NOT_FOUND', `${actionId} (released after its release_after)`);
      }
    }
    return record;
  }

  async cancel(record: ActionRecord, by: Viewer): Promise<ActionStatus> {
    if (record.status === 'SUCCEEDED' || record.status === 'FAILED') {
      throw new HubError('CONFLICT', `action ${record.actionId} already ${record.status}; nothing to cancel`, {
        details: { status: record.status },
      });
    }
    const running = this.running.get(record.actionId);
    await this.finish(record, 'FAILED', 'Cancelled', {
      cancelled: true,
      error: { code: 'MODELHUB_CANCELLED', message: `Cancelled by ${creatorUrn(by)}` },
    }, 'ActionCancelled');
    running?.controller.abort(new HubError('CONFLICT', 'the action was cancelled'));
    return toStatusDocument((await this.store.get(record.actionId)) ?? record);
  }

  async release(record: ActionRecord): Promise<ActionStatus> {
    if (record.status === 'ACTIVE' || record.status === 'INACTIVE') {
      throw new HubError('CONFLICT', `action ${record.actionId} is still ${record.status}; cancel it or wait for it to finish`, {
        details: { status: record.status },
      });
    }
    const last = toStatusDocument(record);
    await this.store.delete(record.actionId);
    return last;
  }

  readLog(record: ActionRecord, marker: number, limit: number): Promise<ActionLogPage> {
    return this.store.readLog(record.actionId, marker, limit);
  }

  list(provider: string): Promise<ActionRecord[]> {
    return this.store.listByStatus(['ACTIVE', 'INACTIVE', 'SUCCEEDED', 'FAILED'], provider);
  }

  /** Stops the sweeper and in-flight runs; ACTIVE actions stay ACTIVE so the next start resumes them. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.sweeper) clearInterval(this.sweeper);
    const inFlight = [...this.running.values()];
    for (const running of inFlight) {
      clearTimeout(running.timer);
      running.controller.abort(new HubError('NOT_READY', 'the hub is shutting down'));
    }
    await Promise.allSettled(inFlight.map((running) => running.done));
  }

  private async execute(record: ActionRecord): Promise<Running> {
    const controller = new AbortController();
    record.attempts += 1;
    record.displayStatus = 'Running';
    await this.store.update(record);
    const target = targetOf(record.provider, record.request.body);
    await this.log(record, 'RunStarted', `Running ${formatRef(target.ref)}`, { attempt: record.attempts });

    const running: Running = { controller, done: Promise.resolve() };
    if (record.deadline !== null) {
      running.timer = setTimeout(() => {
        const error = new HubError('DEADLINE_EXCEEDED', `deadline ${new Date(record.deadline ?? 0).toISOString()}`);
        void (async () => {
          const current = await this.store.get(record.actionId);
          if (current && current.status === 'ACTIVE') {
            await this.finish(current, 'FAILED', 'Deadline passed', errorDetails(error), 'DeadlineExceeded');
          }
        })()
          // The store unreachable: the run is still stopped; the next start settles the record.
          .catch(() => undefined)
          .finally(() => controller.abort(error));
      }, Math.max(0, record.deadline - Date.now()));
      running.timer.unref();
    }
    running.done = this.runService
      .run(
        target.ref,
        {
          inputs: target.inputs,
          parameters: target.parameters,
          ...(target.endpoint ? { endpoint: target.endpoint } : {}),
          deadline: record.deadline ?? undefined,
          signal: controller.signal,
          // Actions always keep their provenance record (docs/provenance.md).
          provenance: true,
        },
        record.viewer,
      )
      .then(
        async (reply) => {
          const current = await this.store.get(record.actionId);
          if (!current || current.status !== 'ACTIVE') return;
          await this.finish(current, 'SUCCEEDED', 'Succeeded', { ...reply }, 'RunSucceeded');
        },
        async (error: unknown) => {
          if (this.closing) return;
          const current = await this.store.get(record.actionId);
          if (!current || current.status !== 'ACTIVE') return;
          const hubError = toHubError(error, 'SERVABLE_FAILED');
          await this.finish(current, 'FAILED', 'Failed', errorDetails(hubError), 'RunFailed');
        },
      )
      // The store unreachable when the run ended: the action stays ACTIVE and the next start resumes it.
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(running.timer);
        this.running.delete(record.actionId);
      });
    this.running.set(record.actionId, running);
    return running;
  }

  private async finish(
    record: ActionRecord,
    status: 'SUCCEEDED' | 'FAILED',
    displayStatus: string,
    details: Record<string, unknown>,
    logCode: string,
  ): Promise<void> {
    record.status = status;
    record.displayStatus = displayStatus;
    record.details = details;
    record.completionTime = now();
    await this.store.update(record);
    const error = (details.error as { message?: string } | undefined)?.message;
    await this.log(record, logCode, error ? `${displayStatus}: ${error}` : displayStatus);
  }

  private async log(record: ActionRecord, code: string, description: string, details?: Record<string, unknown>): Promise<void> {
    await this.store.appendLog(record.actionId, { time: now(), code, description, ...(details ? { details } : {}) });
  }
}

const formatRef = (ref: ServableRef) => `${ref.owner}/${ref.name}${ref.version ? `@${ref.version}` : ''}`;

function describeTarget(provider: string, body: Record<string, unknown>): string {
  try {
    return formatRef(targetOf(provider, body).ref);
  } catch {
    return provider;
  }
}
