/**
 * Runs on compute endpoints. Each endpoint's agent keeps one WebSocket open to the hub (it connects
 * out; nothing listens on the user's machine); the dispatcher sends it runs and waits for their
 * results. A run for an endpoint that is offline waits in the endpoint's queue until the agent
 * connects or the run's deadline passes (then MODELHUB_ENDPOINT_OFFLINE); a run whose agent drops
 * the connection before answering goes back to the front of the queue and is sent again on the
 * next connection (inference is a pure function of its inputs, so running it twice is harmless).
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import { HubError, type ErrorName, ERROR_CATALOG } from '../../schemas/errors.ts';
import type { EndpointRecord, EndpointStore } from '../../schemas/ports/endpoint-store.ts';
import { canUseEndpoint } from './access.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import type { AgentMessage, HubMessage, TaskError } from '../../schemas/endpoints.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import type { RunCall } from '../../schemas/ports/run-service.ts';

export interface EndpointRunResult {
  output: unknown;
  timing: { queue_ms: number; inference_ms: number; total_ms: number };
}

interface PendingRun {
  id: string;
  key: string;
  message: Extract<HubMessage, { type: 'task' }>;
  received: number;
  /** Sent on a connection that has not answered yet. */
  sentOn?: WebSocket;
  timer: NodeJS.Timeout;
  resolve(result: EndpointRunResult): void;
  reject(error: HubError): void;
}

interface Connection {
  socket: WebSocket;
  endpoint: EndpointRecord;
  alive: boolean;
}

export interface EndpointDispatcherOptions {
  store: EndpointStore;
  /** How often the hub pings each agent; one that misses two pings in a row is dropped. */
  heartbeatMs: number;
  defaultDeadlineMs: number;
  log: { warn(object: object, message: string): void; info(object: object, message: string): void };
}

const keyOf = (owner: string, name: string) => `${owner}/${name}`;

/** An agent's error back in the hub's catalog: its code when the catalog has it, else SERVABLE_FAILED. */
export function errorFromAgent(error: TaskError): HubError {
  const name = error.code.replace(/^MODELHUB_/, '');
  if (Object.hasOwn(ERROR_CATALOG, name)) {
    const hubError = new HubError(name as ErrorName, '', { details: error.details });
    // The agent's message is already the catalog's sentence: keep it whole.
    Object.defineProperty(hubError, 'message', { value: error.message });
    return hubError;
  }
  return new HubError('SERVABLE_FAILED', error.message, { details: error.details });
}

export class EndpointDispatcher {
  private readonly connections = new Map<string, Connection>();
  private readonly queues = new Map<string, PendingRun[]>();
  private readonly runs = new Map<string, PendingRun>();
  private readonly pinger: NodeJS.Timeout;

  constructor(private readonly options: EndpointDispatcherOptions) {
    this.pinger = setInterval(() => this.ping(), options.heartbeatMs);
    this.pinger.unref();
  }

  /** The endpoint `owner/name` if this viewer may use it; ENDPOINT_NOT_FOUND otherwise (exactly as for an unknown one). */
  async resolve(endpoint: string, viewer: Viewer): Promise<EndpointRecord> {
    const [owner, name] = endpoint.split('/');
    const record = owner && name ? await this.options.store.get(owner, name) : undefined;
    if (!record || !canUseEndpoint(record, viewer)) throw new HubError('ENDPOINT_NOT_FOUND', endpoint);
    return record;
  }

  isOnline(owner: string, name: string): boolean {
    return this.connections.has(keyOf(owner, name));
  }

  counts(owner: string, name: string): { queued: number; running: number } {
    const key = keyOf(owner, name);
    let running = 0;
    for (const run of this.runs.values()) if (run.key === key && run.sentOn) running += 1;
    return { queued: this.queues.get(key)?.length ?? 0, running };
  }

  /** Run a version's method on an endpoint the caller may use (checked by `resolve` first). */
  run(endpoint: EndpointRecord, document: PublishedMetadata, methodName: string, call: RunCall, options: { chunk?: boolean } = {}): Promise<EndpointRunResult> {
    const key = keyOf(endpoint.owner, endpoint.name);
    const deadline = call.deadline ?? Date.now() + this.options.defaultDeadlineMs;
    return new Promise<EndpointRunResult>((resolve, reject) => {
      const id = randomUUID();
      const run: PendingRun = {
        id,
        key,
        received: performance.now(),
        message: { type: 'task', task_id: id, document, method: methodName, inputs: call.inputs, deadline, ...(call.parameters ? { parameters: call.parameters } : {}), ...(options.chunk ? { chunk: true } : {}) },
        timer: setTimeout(() => {
          this.forget(run);
          reject(
            run.sentOn
              ? new HubError('DEADLINE_EXCEEDED', `${key} did not answer before the deadline`)
              : new HubError('ENDPOINT_OFFLINE', `${key} did not connect before the run's deadline (${new Date(deadline).toISOString()})`),
          );
        }, Math.max(0, deadline - Date.now())),
        resolve,
        reject,
      };
      call.signal?.addEventListener('abort', () => {
        this.forget(run);
        reject(new HubError('DEADLINE_EXCEEDED', `the run on ${key} was cancelled`));
      }, { once: true });
      this.runs.set(id, run);
      const connection = this.connections.get(key);
      if (connection) this.send(connection, run);
      else this.enqueue(run);
    });
  }

  /** An agent connected: it replaces an earlier connection of the same endpoint, and gets the queue. */
  attach(socket: WebSocket, endpoint: EndpointRecord): void {
    const key = keyOf(endpoint.owner, endpoint.name);
    const earlier = this.connections.get(key);
    const connection: Connection = { socket, endpoint, alive: true };
    this.connections.set(key, connection);
    if (earlier) earlier.socket.terminate();
    this.options.log.info({ endpoint: key }, 'compute endpoint connected');
    void this.options.store.seen(endpoint.owner, endpoint.name, new Date().toISOString()).catch(() => undefined);

    socket.on('pong', () => (connection.alive = true));
    socket.on('message', (data) => {
      connection.alive = true;
      let message: AgentMessage;
      try {
        message = JSON.parse(String(data)) as AgentMessage;
      } catch {
        return;
      }
      this.onMessage(connection, message);
    });
    socket.on('close', () => this.detach(connection));
    socket.on('error', () => socket.terminate());
    socket.send(JSON.stringify({ type: 'welcome', endpoint: key, heartbeat_ms: this.options.heartbeatMs } satisfies HubMessage));
    const queued = this.queues.get(key) ?? [];
    this.queues.delete(key);
    for (const run of queued) this.send(connection, run);
  }

  /** Disconnect an endpoint's agent (after the endpoint is deleted). */
  drop(owner: string, name: string): void {
    this.connections.get(keyOf(owner, name))?.socket.close(4404, 'endpoint deleted');
  }

  private onMessage(connection: Connection, message: AgentMessage): void {
    const { owner, name } = connection.endpoint;
    if (message.type === 'heartbeat') {
      void this.options.store.seen(owner, name, new Date().toISOString(), message.resources).catch(() => undefined);
      return;
    }
    const run = this.runs.get(message.task_id);
    // A result of a run that timed out, or from a connection it was not sent on: ignored.
    if (!run || run.sentOn !== connection.socket) return;
    this.forget(run);
    if (message.type === 'result') {
      const total = performance.now() - run.received;
      run.resolve({ output: message.output, timing: { queue_ms: Math.max(0, total - message.inference_ms), inference_ms: message.inference_ms, total_ms: total } });
    } else {
      run.reject(errorFromAgent(message.error));
    }
  }

  private detach(connection: Connection): void {
    const key = keyOf(connection.endpoint.owner, connection.endpoint.name);
    if (this.connections.get(key) === connection) {
      this.connections.delete(key);
      this.options.log.warn({ endpoint: key }, 'compute endpoint disconnected');
    }
    // What it had not answered goes back to the front of the queue, for the next connection.
    const unanswered = [...this.runs.values()].filter((run) => run.sentOn === connection.socket);
    for (const run of unanswered) run.sentOn = undefined;
    const current = this.connections.get(key);
    if (current) for (const run of unanswered) this.send(current, run);
    else this.queues.set(key, [...unanswered, ...(this.queues.get(key) ?? [])]);
  }

  private send(connection: Connection, run: PendingRun): void {
    run.sentOn = connection.socket;
    connection.socket.send(JSON.stringify(run.message));
  }

  private enqueue(run: PendingRun): void {
    const queue = this.queues.get(run.key) ?? [];
    queue.push(run);
    this.queues.set(run.key, queue);
  }

  private forget(run: PendingRun): void {
    clearTimeout(run.timer);
    this.runs.delete(run.id);
    const queue = this.queues.get(run.key);
    if (queue) {
      const at = queue.indexOf(run);
      if (at >= 0) queue.splice(at, 1);
      if (queue.length === 0) this.queues.delete(run.key);
    }
  }

  private ping(): void {
    for (const connection of this.connections.values()) {
      if (!connection.alive) {
        connection.socket.terminate();
        continue;
      }
      connection.alive = false;
      connection.socket.ping();
    }
  }

  /** True once the hub is stopping: runs it rejects then were interrupted, not failed. */
  closed = false;

  close(): void {
    this.closed = true;
    clearInterval(this.pinger);
    for (const run of [...this.runs.values()]) {
      this.forget(run);
      run.reject(new HubError('NOT_READY', 'the hub is stopping'));
    }
    for (const connection of this.connections.values()) connection.socket.close(1001, 'hub stopping');
    this.connections.clear();
  }
}
