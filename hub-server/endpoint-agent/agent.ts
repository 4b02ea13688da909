/**
 * The compute endpoint agent: registered with the hub under its user's token, it keeps ONE
 * outbound WebSocket to the hub (nothing listens on the user's machine), answers the hub's pings,
 * sends heartbeats with its resources, and reconnects with exponential backoff (and jitter) when
 * the connection drops or the hub restarts. Each run it receives: the version's files are fetched
 * by digest and verified (file-cache.ts), then the executor runs it and the result goes back.
 */
import path from 'node:path';
import WebSocket from 'ws';
import { HubError, toHubError } from '../../schemas/errors.ts';
import { ENDPOINT_CONNECT_PATH, ENDPOINT_TOKEN_HEADER, type AgentMessage, type HubMessage } from '../../schemas/endpoints.ts';
import { FileCache } from './file-cache.ts';
import { runRecords, type TaskExecutor, type TaskMessage } from './task-executor.ts';

export interface AgentOptions {
  hubUrl: string;
  /** owner/name */
  endpoint: string;
  token: string;
  stateDir: string;
  /** Builds the executor once the file cache exists (the executor runs from it). */
  executor: (cache: FileCache) => TaskExecutor;
  log?: (line: string) => void;
  /** Backoff bounds, ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export type AgentState = 'connecting' | 'online' | 'offline' | 'stopped';

export class EndpointAgent {
  readonly cache: FileCache;
  readonly executor: TaskExecutor;
  state: AgentState = 'connecting';
  /** How many times it connected (1 after the first connection). */
  connections = 0;
  private socket: WebSocket | undefined;
  private stopped = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private heartbeatMs = 15_000;
  private readonly running = new Set<Promise<void>>();
  private readonly onlineWaiters: (() => void)[] = [];

  constructor(private readonly options: AgentOptions) {
    this.cache = new FileCache(path.join(options.stateDir, 'blobs'), { url: options.hubUrl, endpoint: options.endpoint, token: () => options.token });
    this.executor = options.executor(this.cache);
  }

  private log(line: string): void {
    this.options.log?.(`${new Date().toISOString()} ${line}`);
  }

  start(): void {
    this.connect();
  }

  /** Resolves once connected (again). */
  online(): Promise<void> {
    if (this.state === 'online') return Promise.resolve();
    return new Promise((resolve) => this.onlineWaiters.push(resolve));
  }

  private connect(): void {
    if (this.stopped) return;
    this.state = 'connecting';
    const url = new URL(ENDPOINT_CONNECT_PATH, this.options.hubUrl.replace(/^http/, 'ws'));
    const socket = new WebSocket(url, { headers: { [ENDPOINT_TOKEN_HEADER]: this.options.token }, handshakeTimeout: 10_000 });
    this.socket = socket;
    socket.on('open', () => {
      this.attempt = 0;
      this.connections += 1;
      this.state = 'online';
      this.log(`connected to ${this.options.hubUrl} as ${this.options.endpoint}`);
      this.armWatchdog();
      for (const wake of this.onlineWaiters.splice(0)) wake();
    });
    socket.on('ping', () => this.armWatchdog());
    socket.on('message', (data) => {
      this.armWatchdog();
      let message: HubMessage;
      try {
        message = JSON.parse(String(data)) as HubMessage;
      } catch {
        return;
      }
      if (message.type === 'welcome') {
        this.heartbeatMs = message.heartbeat_ms;
        this.startHeartbeat();
      } else if (message.type === 'task') {
        const work = this.runTask(socket, message).finally(() => this.running.delete(work));
        this.running.add(work);
      }
    });
    socket.on('unexpected-response', (_request, response) => {
      this.log(`the hub refused the connection: ${response.statusCode}`);
      // 401: the token is not (or no longer) this endpoint's: retrying will not help.
      if (response.statusCode === 401) this.stopped = true;
      socket.terminate();
    });
    socket.on('error', (error) => this.log(`connection error: ${error.message}`));
    socket.on('close', (code) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.stopTimers();
      if (code === 4404) {
        this.log('the endpoint was deleted on the hub: stopping');
        this.stopped = true;
      }
      if (this.stopped) {
        this.state = 'stopped';
        return;
      }
      this.state = 'offline';
      const delay = this.backoff();
      this.log(`disconnected (${code}); reconnecting in ${Math.round(delay)} ms`);
      this.retryTimer = setTimeout(() => this.connect(), delay);
    });
  }

  /** Exponential backoff with full jitter, from minBackoffMs up to maxBackoffMs. */
  private backoff(): number {
    const min = this.options.minBackoffMs ?? 250;
    const max = this.options.maxBackoffMs ?? 30_000;
    const ceiling = Math.min(max, min * 2 ** this.attempt);
    this.attempt += 1;
    return min + Math.random() * (ceiling - min);
  }

  private startHeartbeat(): void {
    clearInterval(this.heartbeat);
    const beat = () => this.send(this.socket, { type: 'heartbeat', resources: this.executor.resources() });
    beat();
    this.heartbeat = setInterval(beat, this.heartbeatMs);
  }

  /** A hub that sends nothing (no ping, no task) for three heartbeats is gone: drop and reconnect. */
  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.socket?.terminate(), this.heartbeatMs * 3);
  }

  private stopTimers(): void {
    clearInterval(this.heartbeat);
    clearTimeout(this.watchdog);
  }

  private send(socket: WebSocket | undefined, message: AgentMessage): void {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  private async runTask(socket: WebSocket, task: TaskMessage): Promise<void> {
    try {
      await this.cache.ensure(task.document);
      if (task.chunk) {
        if (!Array.isArray(task.inputs)) throw new HubError('BAD_REQUEST', 'a batch chunk carries an array of records');
        const started = performance.now();
        const outcomes = this.executor.runChunk ? await this.executor.runChunk(task) : await runRecords((t) => this.executor.run(t), task, task.inputs);
        this.send(socket, { type: 'result', task_id: task.task_id, output: outcomes, inference_ms: performance.now() - started });
        return;
      }
      const outcome = await this.executor.run(task);
      this.send(socket, { type: 'result', task_id: task.task_id, output: outcome.output, inference_ms: outcome.inference_ms });
    } catch (error) {
      const hubError = toHubError(error, 'SERVABLE_FAILED');
      this.send(socket, { type: 'failed', task_id: task.task_id, error: { code: hubError.code, message: hubError.message, ...(hubError.details === undefined ? {} : { details: hubError.details }) } });
    }
    // A closed socket drops the answer: the hub sends the run again on the next connection.
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.stopTimers();
    await Promise.allSettled([...this.running]);
    this.socket?.close(1000, 'agent stopping');
    this.state = 'stopped';
    await this.executor.close();
  }
}
