/**
 * The registry in PostgreSQL, shared by every hub replica. Version numbers come from a per-servable
 * counter row (`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`), so concurrent publishes on any
 * number of replicas never get the same number; the listing order is a database sequence, so it is
 * one order across replicas. Each registry is one replica with a heartbeat: settling interrupted
 * tasks at start-up touches only its own and those of replicas that stopped, never a live one's.
 */
import { SERVABLE_CHANGES_CHANNEL } from './postgres-change-feed.ts';
import { randomUUID } from 'node:crypto';
import type { TaskDocument } from '../../schemas/api.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { HubError } from '../../schemas/errors.ts';
import type {
  IdentifierRecord,
  InterruptedTasks,
  ListIdentifiersQuery,
  ListServablesQuery,
  Registry,
  ServableSummary,
  TaskPatch,
  VersionRecord,
  VersionState,
} from '../../schemas/ports/registry.ts';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import type { PostgresDatabase, Queryable } from './postgres-database.ts';

interface VersionRow {
  owner: string;
  name: string;
  version: number;
  state: VersionState;
  document: PublishedMetadata | null;
  created_at: string;
  published_at: string | null;
  withdrawn_at: string | null;
  withdrawn_reason: string | null;
}

interface IdentifierRow {
  identifier: string;
  owner: string;
  name: string;
  version: number | null;
  state: string;
  created_at: string;
  last_error: string | null;
  updated_at: string | null;
}

const now = (): string => new Date().toISOString();

function toVersionRecord(row: VersionRow): VersionRecord {
  const record: VersionRecord = { owner: row.owner, name: row.name, version: row.version, state: row.state, created_at: row.created_at };
  if (row.document !== null) record.document = row.document;
  if (row.published_at !== null) record.published_at = row.published_at;
  if (row.withdrawn_at !== null) record.withdrawn_at = row.withdrawn_at;
  if (row.withdrawn_reason !== null) record.withdrawn_reason = row.withdrawn_reason;
  return record;
}

function toIdentifierRecord(row: IdentifierRow): IdentifierRecord {
  const record: IdentifierRecord = { identifier: row.identifier, owner: row.owner, name: row.name, state: row.state, created_at: row.created_at };
  if (row.version !== null) record.version = row.version;
  if (row.last_error !== null) record.last_error = row.last_error;
  if (row.updated_at !== null) record.updated_at = row.updated_at;
  return record;
}

/** The same cursor format as the SQLite registry: the publish sequence number of the last item. */
function encodeCursor(seq: number): string {
  return Buffer.from(JSON.stringify({ s: seq })).toString('base64url');
}

function decodeCursor(cursor: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { s?: unknown };
    if (typeof parsed.s === 'number' && Number.isSafeInteger(parsed.s)) return parsed.s;
  } catch {
    // fall through to the error below
  }
  throw new HubError('BAD_REQUEST', 'the cursor is not one this hub handed out');
}

/**
 * SQL deciding whether the viewer may see the JSONB document in `column`, pushing its values onto
 * `values`. The same rule as the search indexes: public, admin, the owner, or shared with the user
 * or one of their groups.
 */
export function visibilitySql(column: string, viewer: Viewer, values: unknown[]): string {
  if (viewer.admin) return 'true';
  const clauses = [`${column}->'hub'->>'visibility' = 'public'`];
  if (viewer.user !== undefined) {
    values.push(viewer.user);
    const user = `$${values.length}`;
    clauses.push(`${column}->'hub'->>'owner' = ${user}`);
    clauses.push(`COALESCE(${column}->'hub'->'shared_with'->'users', '[]'::jsonb) ? ${user}`);
  }
  if (viewer.groups && viewer.groups.length > 0) {
    values.push(viewer.groups);
    clauses.push(`COALESCE(${column}->'hub'->'shared_with'->'groups', '[]'::jsonb) ?| $${values.length}::text[]`);
  }
  return `(${clauses.join(' OR ')})`;
}

const isUniqueViolation = (error: unknown): boolean => (error as { code?: unknown }).code === '23505';
const isForeignKeyViolation = (error: unknown): boolean => (error as { code?: unknown }).code === '23503';

export interface PostgresRegistryOptions {
  /** A replica not heard from for this long is taken for dead and its tasks are settled (default 30 s). */
  leaseSeconds?: number;
}

export class PostgresRegistry implements Registry {
  /** This process's id on the tasks it creates. */
  readonly replicaId = randomUUID();
  private readonly heartbeat: NodeJS.Timeout;

  private constructor(
    private readonly db: PostgresDatabase,
    private readonly leaseSeconds: number,
  ) {
    // A missed beat (the database briefly down) is harmless: the lease is several beats long.
    this.heartbeat = setInterval(() => {
      this.db.query('UPDATE registry_replicas SET last_seen = now() WHERE replica_id = $1', [this.replicaId]).catch(() => undefined);
    }, Math.max(100, (leaseSeconds * 1000) / 6));
    this.heartbeat.unref();
  }

  /** Uses (and shares) the given pool; the schema is migrated before the registry is returned. */
  static async open(db: PostgresDatabase, options: PostgresRegistryOptions = {}): Promise<PostgresRegistry> {
    await db.migrate();
    const registry = new PostgresRegistry(db.share(), options.leaseSeconds ?? 30);
    try {
      await db.query('INSERT INTO registry_replicas (replica_id) VALUES ($1)', [registry.replicaId], 'register a replica');
    } catch (error) {
      await registry.close();
      throw error;
    }
    return registry;
  }

  // ---- versions -------------------------------------------------------------------------------

  async reserveVersion(owner: string, name: string): Promise<number> {
    return this.db.transaction(async (client) => {
      // Failed and withdrawn numbers stay taken: an identifier may already name them.
      const { rows } = await client.query<{ last: number }>(
        `INSERT INTO version_counters (owner, name, last) VALUES ($1, $2, 1)
         ON CONFLICT (owner, name) DO UPDATE SET last = version_counters.last + 1
         RETURNING last`,
        [owner, name],
      );
      const next = rows[0]!.last;
      await client.query(`INSERT INTO versions (owner, name, version, state, created_at) VALUES ($1, $2, $3, 'pending', $4)`, [owner, name, next, now()]);
      return next;
    }, 'reserve a version');
  }

  async commitVersion(document: PublishedMetadata): Promise<void> {
    const { owner, name, version } = document.hub;
    await this.db.transaction(async (client) => {
      const { rows } = await client.query<{ state: VersionState }>(
        'SELECT state FROM versions WHERE owner = $1 AND name = $2 AND version = $3 FOR UPDATE',
        [owner, name, version],
      );
      const row = rows[0];
      if (!row) throw new HubError('VERSION_NOT_FOUND', `${owner}/${name}@${version} was never reserved`);
      if (row.state !== 'pending') throw new HubError('CONFLICT', `${owner}/${name}@${version} is ${row.state}, not pending`);
      await client.query(
        `UPDATE versions SET state = 'published', document = $1, published_at = $2, publish_seq = nextval('versions_publish_seq')
         WHERE owner = $3 AND name = $4 AND version = $5`,
        [JSON.stringify(document), document.hub.publication_date || now(), owner, name, version],
      );
      // Delivered at commit: every replica forgets its cached version list of this servable.
      await client.query('SELECT pg_notify($1, $2)', [SERVABLE_CHANGES_CHANNEL, `${owner}/${name}`]);
    }, 'commit a version');
  }

  async failVersion(owner: string, name: string, version: number): Promise<void> {
    await this.db.query(
      `UPDATE versions SET state = 'failed' WHERE owner = $1 AND name = $2 AND version = $3 AND state = 'pending'`,
      [owner, name, version],
      'fail a version',
    );
  }

  async getVersion(owner: string, name: string, version?: number): Promise<VersionRecord | undefined> {
    const { rows } =
      version === undefined
        ? await this.db.query<VersionRow>(
            `SELECT * FROM versions WHERE owner = $1 AND name = $2 AND state = 'published' ORDER BY version DESC LIMIT 1`,
            [owner, name],
            'read a version',
          )
        : await this.db.query<VersionRow>('SELECT * FROM versions WHERE owner = $1 AND name = $2 AND version = $3', [owner, name, version], 'read a version');
    return rows[0] ? toVersionRecord(rows[0]) : undefined;
  }

  async listVersions(owner: string, name: string): Promise<VersionRecord[]> {
    const { rows } = await this.db.query<VersionRow>(
      `SELECT * FROM versions WHERE owner = $1 AND name = $2 AND state IN ('published', 'withdrawn') ORDER BY version DESC`,
      [owner, name],
      'list versions',
    );
    return rows.map(toVersionRecord);
  }

  async listServables(query: ListServablesQuery): Promise<{ items: ServableSummary[]; next_cursor: string | null }> {
    const limit = Number.isFinite(query.limit) ? Math.max(1, Math.min(Math.floor(query.limit), 1000)) : 50;
    const values: unknown[] = [limit + 1];
    const inner: string[] = [];
    if (query.owner !== undefined) {
      values.push(query.owner);
      inner.push(`owner = $${values.length}`);
    }
    const outer: string[] = [];
    if (query.cursor !== undefined) {
      values.push(decodeCursor(query.cursor));
      outer.push(`l.seq < $${values.length}`);
    }
    // Versions the viewer may not see are left out before the latest is chosen: a private version 2
    // must not hide the public version 1 from everyone else.
    if (query.viewer) inner.push(visibilitySql('document', query.viewer, values));
    // A servable's place in the list is its most recent (visible) publish; what it shows is its
    // latest (visible) version.
    const { rows } = await this.db.query<VersionRow & { seq: string; updated_at: string }>(
      `WITH latest AS (
         SELECT owner, name, MAX(version) AS version, MAX(publish_seq) AS seq, MAX(published_at) AS updated_at
         FROM versions WHERE state = 'published' ${inner.length ? `AND ${inner.join(' AND ')}` : ''}
         GROUP BY owner, name)
       SELECT v.*, l.seq AS seq, l.updated_at AS updated_at
       FROM latest l JOIN versions v ON v.owner = l.owner AND v.name = l.name AND v.version = l.version
       ${outer.length ? `WHERE ${outer.join(' AND ')}` : ''}
       ORDER BY l.seq DESC LIMIT $1`,
      values,
      'list servables',
    );
    const page = rows.slice(0, limit);
    const items = page.map((row): ServableSummary => {
      const document = row.document!;
      return {
        servable: `${row.owner}/${row.name}`,
        owner: row.owner,
        name: row.name,
        latest_version: row.version,
        title: document.datacite.titles[0]?.title ?? row.name,
        type: document.servable.type,
        visibility: document.hub.visibility,
        identifier: document.hub.identifier,
        updated_at: row.updated_at,
        document,
      };
    });
    const last = page.at(-1);
    return { items, next_cursor: rows.length > limit && last ? encodeCursor(Number(last.seq)) : null };
  }

  async *allPublished(): AsyncIterable<PublishedMetadata> {
    // Keyset pages: no connection is held between yields.
    let after: unknown[] = ['', '', 0];
    for (;;) {
      const { rows } = await this.db.query<{ owner: string; name: string; version: number; document: PublishedMetadata }>(
        `SELECT owner, name, version, document FROM versions
         WHERE state = 'published' AND (owner, name, version) > ($1, $2, $3)
         ORDER BY owner, name, version LIMIT 200`,
        after,
        'read published versions',
      );
      for (const row of rows) yield row.document;
      const last = rows.at(-1);
      if (!last || rows.length < 200) return;
      after = [last.owner, last.name, last.version];
    }
  }

  async withdraw(owner: string, name: string, version: number | undefined, reason: string): Promise<number[]> {
    const { rows } = await this.db.query<{ version: number }>(
      `UPDATE versions SET state = 'withdrawn', withdrawn_at = $1, withdrawn_reason = $2
       WHERE owner = $3 AND name = $4 AND state = 'published' AND ($5::int IS NULL OR version = $5::int)
       RETURNING version`,
      [now(), reason, owner, name, version ?? null],
      'withdraw',
    );
    if (rows.length > 0) await this.notifyChanged(owner, name);
    return rows.map((row) => row.version).sort((a, b) => b - a);
  }

  async updateDocument(document: PublishedMetadata): Promise<void> {
    const { owner, name, version } = document.hub;
    const { rowCount } = await this.db.query(
      `UPDATE versions SET document = $1 WHERE owner = $2 AND name = $3 AND version = $4
         AND state IN ('published', 'withdrawn') AND document IS NOT NULL`,
      [JSON.stringify(document), owner, name, version],
      'update a document',
    );
    if (rowCount === 0) throw new HubError('VERSION_NOT_FOUND', `${owner}/${name}@${version}`);
    await this.notifyChanged(owner, name);
  }

  /** Tells every replica (LISTEN, see postgres-change-feed.ts) that a servable's versions changed. */
  private async notifyChanged(owner: string, name: string): Promise<void> {
    await this.db.query('SELECT pg_notify($1, $2)', [SERVABLE_CHANGES_CHANNEL, `${owner}/${name}`], 'announce a change');
  }

  // ---- tasks ----------------------------------------------------------------------------------

  async createTask(task: TaskDocument): Promise<void> {
    const { log, ...document } = task;
    await this.db.transaction(async (client) => {
      try {
        await client.query(
          `INSERT INTO tasks (task_id, kind, status, servable, version, created_at, document, replica_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [task.task_id, task.kind, task.status, task.servable ?? null, task.version ?? null, task.created_at, JSON.stringify(document), this.replicaId],
        );
      } catch (error) {
        if (isUniqueViolation(error)) throw new HubError('CONFLICT', `task ${task.task_id} exists already`, { cause: error });
        throw error;
      }
      await this.insertLog(client, task.task_id, log ?? []);
    }, 'create a task');
  }

  private async insertLog(client: Queryable, taskId: string, lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    // unnest WITH ORDINALITY keeps the lines' order in their sequence numbers.
    await client.query(
      `INSERT INTO task_log (task_id, line) SELECT $1, line FROM unnest($2::text[]) WITH ORDINALITY AS l(line, n) ORDER BY n`,
      [taskId, lines],
    );
  }

  async updateTask(taskId: string, patch: TaskPatch): Promise<void> {
    await this.db.transaction(async (client) => {
      const { rows } = await client.query<{ document: Omit<TaskDocument, 'log'> }>('SELECT document FROM tasks WHERE task_id = $1 FOR UPDATE', [taskId]);
      const current = rows[0]?.document;
      if (!current) throw new HubError('TASK_NOT_FOUND', taskId);
      const { log, ...rest } = patch;
      const next: Record<string, unknown> = { ...current };
      for (const [key, value] of Object.entries(rest)) {
        if (value === undefined) delete next[key];
        else next[key] = value;
      }
      await this.writeTask(client, next as Omit<TaskDocument, 'log'>);
      if (log !== undefined) {
        // A patch that carries a log replaces it; appendTaskLog is the cheap way to add lines.
        await client.query('DELETE FROM task_log WHERE task_id = $1', [taskId]);
        await this.insertLog(client, taskId, log);
      }
    }, 'update a task');
  }

  private async writeTask(client: Queryable, document: Omit<TaskDocument, 'log'>): Promise<void> {
    await client.query('UPDATE tasks SET status = $1, servable = $2, version = $3, document = $4 WHERE task_id = $5', [
      document.status,
      document.servable ?? null,
      document.version ?? null,
      JSON.stringify(document),
      document.task_id,
    ]);
  }

  async appendTaskLog(taskId: string, line: string): Promise<void> {
    try {
      await this.db.query('INSERT INTO task_log (task_id, line) VALUES ($1, $2)', [taskId, line], 'append to a task log');
    } catch (error) {
      if (isForeignKeyViolation(error)) throw new HubError('TASK_NOT_FOUND', taskId);
      throw error;
    }
  }

  async getTask(taskId: string): Promise<TaskDocument | undefined> {
    const { rows } = await this.db.query<{ document: Omit<TaskDocument, 'log'>; log: string[] | null }>(
      `SELECT t.document, (SELECT array_agg(line ORDER BY seq) FROM task_log WHERE task_id = t.task_id) AS log
       FROM tasks t WHERE t.task_id = $1`,
      [taskId],
      'read a task',
    );
    const row = rows[0];
    if (!row) return undefined;
    const lines = row.log ?? [];
    return lines.length > 0 || row.document.kind === 'publish' ? { ...row.document, log: lines } : row.document;
  }

  /**
   * Tasks left PENDING/RUNNING: a publish whose version was committed did happen and is handed back
   * for the caller to finish; every other task fails, with its pending version.
   */
  async settleInterruptedTasks(reason: string): Promise<InterruptedTasks> {
    return this.db.transaction(async (client) => {
      const { rows } = await client.query<{ document: Omit<TaskDocument, 'log'>; version_state: VersionState | null }>(
        `SELECT t.document, v.state AS version_state
         FROM tasks t LEFT JOIN versions v
           ON t.kind = 'publish' AND v.owner = split_part(t.servable, '/', 1)
          AND v.name = substr(t.servable, strpos(t.servable, '/') + 1) AND v.version = t.version
         WHERE t.status IN ('PENDING', 'RUNNING')
           -- This replica's own tasks, and those of replicas that stopped (closed, or silent for a
           -- lease): never the tasks a live replica is running.
           AND (t.replica_id IS NULL OR t.replica_id = $1 OR NOT EXISTS (
                 SELECT 1 FROM registry_replicas r
                 WHERE r.replica_id = t.replica_id AND r.last_seen > now() - make_interval(secs => $2)))
           -- A task with an unfinished job is resumed by whichever replica claims the job, not failed here.
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = t.task_id AND j.state <> 'done')
         ORDER BY t.created_at FOR UPDATE OF t`,
        [this.replicaId, this.leaseSeconds],
      );
      const at = now();
      const committed: TaskDocument[] = [];
      let failed = 0;
      for (const { document: task, version_state: state } of rows) {
        // Committed (and perhaps withdrawn since): the publish happened; the hub finishes its task.
        if (state === 'published' || state === 'withdrawn') {
          committed.push(task);
          continue;
        }
        failed += 1;
        const steps = task.steps?.map((step) =>
          step.status === 'RUNNING' ? { ...step, status: 'FAILED' as const, completed_at: at, message: reason } : step,
        );
        await this.writeTask(client, {
          ...task,
          ...(steps ? { steps } : {}),
          status: 'FAILED',
          error: { code: 'MODELHUB_INTERNAL', message: reason },
          completed_at: at,
        });
        if (task.kind === 'publish' && task.servable && task.version !== undefined) {
          const slash = task.servable.indexOf('/');
          await client.query(`UPDATE versions SET state = 'failed' WHERE owner = $1 AND name = $2 AND version = $3 AND state = 'pending'`, [
            task.servable.slice(0, slash),
            task.servable.slice(slash + 1),
            task.version,
          ]);
        }
      }
      return { failed, committed };
    }, 'settle interrupted tasks');
  }

  /** The older name of settleInterruptedTasks: how many tasks failed. */
  async failInterruptedTasks(reason: string): Promise<number> {
    return (await this.settleInterruptedTasks(reason)).failed;
  }

  async referencedBlobs(): Promise<Set<string>> {
    const { rows } = await this.db.query<{ sha256: string }>(
      `SELECT DISTINCT f->>'sha256' AS sha256
       FROM versions, jsonb_array_elements(CASE WHEN jsonb_typeof(document->'hub'->'files') = 'array'
                                                THEN document->'hub'->'files' ELSE '[]'::jsonb END) AS f
       WHERE document IS NOT NULL AND f->>'sha256' IS NOT NULL`,
      [],
      'list referenced blobs',
    );
    return new Set(rows.map((row) => row.sha256));
  }

  // ---- blobs of running publishes (every replica's sweep keeps them) ---------------------------

  async recordTaskBlobs(taskId: string, sha256s: readonly string[]): Promise<void> {
    if (sha256s.length === 0) return;
    await this.db.query(
      'INSERT INTO task_blobs (task_id, sha256) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING',
      [taskId, [...sha256s]],
      'record the blobs of a publish',
    );
  }

  async blobsOfRunningTasks(): Promise<Set<string>> {
    // What finished tasks recorded is no longer needed: their versions name the blobs, or nothing does.
    await this.db.query(
      `DELETE FROM task_blobs b USING tasks t WHERE t.task_id = b.task_id AND t.status NOT IN ('PENDING', 'RUNNING')`,
      [],
      'forget the blobs of finished publishes',
    );
    const { rows } = await this.db.query<{ sha256: string }>(
      `SELECT DISTINCT b.sha256 FROM task_blobs b JOIN tasks t ON t.task_id = b.task_id WHERE t.status IN ('PENDING', 'RUNNING')`,
      [],
      'read the blobs of running publishes',
    );
    return new Set(rows.map((row) => row.sha256));
  }

  // ---- identifiers ----------------------------------------------------------------------------

  async putIdentifier(record: IdentifierRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO identifiers (identifier, owner, name, version, state, created_at, last_error, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (identifier) DO UPDATE SET
         owner = excluded.owner, name = excluded.name, version = excluded.version, state = excluded.state,
         last_error = excluded.last_error, updated_at = excluded.updated_at`,
      [record.identifier, record.owner, record.name, record.version ?? null, record.state, record.created_at, record.last_error ?? null, record.updated_at ?? null],
      'store an identifier',
    );
  }

  async getIdentifier(identifier: string): Promise<IdentifierRecord | undefined> {
    const { rows } = await this.db.query<IdentifierRow>('SELECT * FROM identifiers WHERE identifier = $1', [identifier], 'read an identifier');
    return rows[0] ? toIdentifierRecord(rows[0]) : undefined;
  }

  async listIdentifiers(query: ListIdentifiersQuery): Promise<IdentifierRecord[]> {
    const values: unknown[] = [];
    const where: string[] = [];
    for (const column of ['owner', 'name', 'state'] as const) {
      if (query[column] === undefined) continue;
      values.push(query[column]);
      where.push(`${column} = $${values.length}`);
    }
    values.push(Math.max(1, Math.min(Math.floor(query.limit ?? 1000), 10_000)));
    const { rows } = await this.db.query<IdentifierRow>(
      `SELECT * FROM identifiers ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at COLLATE "C", identifier COLLATE "C" LIMIT $${values.length}`,
      values,
      'list identifiers',
    );
    return rows.map(toIdentifierRecord);
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    // Stopped cleanly: the next replica to start settles this one's tasks at once, not after a lease.
    await this.db.query('DELETE FROM registry_replicas WHERE replica_id = $1', [this.replicaId]).catch(() => undefined);
    await this.db.close();
  }
}
