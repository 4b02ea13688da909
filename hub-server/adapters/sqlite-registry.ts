/**
 * The embedded registry: one SQLite file (WAL, synchronous=NORMAL) holding versions, tasks and
 * identifiers. better-sqlite3 is synchronous, so each method is one short transaction; writers that
 * must read-then-write (reserving a version number) take the write lock first (BEGIN IMMEDIATE), so
 * two processes sharing the file can never hand out the same number.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
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

/** Each entry moves the schema one `user_version` up; never edit a shipped entry, add one. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE versions (
    owner            TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    version          INTEGER NOT NULL CHECK (version >= 1),
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'published', 'failed', 'withdrawn')),
    document         TEXT,
    created_at       TEXT    NOT NULL,
    published_at     TEXT,
    publish_seq      INTEGER,
    withdrawn_at     TEXT,
    withdrawn_reason TEXT,
    PRIMARY KEY (owner, name, version)
  );
  CREATE INDEX versions_by_state ON versions (state, owner, name);
  CREATE UNIQUE INDEX versions_by_publish_seq ON versions (publish_seq) WHERE publish_seq IS NOT NULL;

  CREATE TABLE tasks (
    task_id    TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    servable   TEXT,
    version    INTEGER,
    created_at TEXT NOT NULL,
    document   TEXT NOT NULL
  );
  CREATE INDEX tasks_by_status ON tasks (status);

  -- One row per line: appending a log line is one small insert, not a rewrite of the task.
  CREATE TABLE task_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
    line    TEXT NOT NULL
  );
  CREATE INDEX task_log_by_task ON task_log (task_id, seq);

  CREATE TABLE identifiers (
    identifier TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER,
    state      TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX identifiers_by_servable ON identifiers (owner, name, version);
  `,
  // Remote minting (DataCite) can fail and is retried: the reason and when the state last changed.
  `
  ALTER TABLE identifiers ADD COLUMN last_error TEXT;
  ALTER TABLE identifiers ADD COLUMN updated_at TEXT;
  CREATE INDEX identifiers_by_state ON identifiers (state, created_at);
  `,
];

interface VersionRow {
  owner: string;
  name: string;
  version: number;
  state: VersionState;
  document: string | null;
  created_at: string;
  published_at: string | null;
  withdrawn_at: string | null;
  withdrawn_reason: string | null;
}

interface SummaryRow extends VersionRow {
  seq: number;
  updated_at: string;
}

const now = (): string => new Date().toISOString();

function toVersionRecord(row: VersionRow): VersionRecord {
  const record: VersionRecord = {
    owner: row.owner,
    name: row.name,
    version: row.version,
    state: row.state,
    created_at: row.created_at,
  };
  if (row.document !== null) record.document = JSON.parse(row.document) as PublishedMetadata;
  if (row.published_at !== null) record.published_at = row.published_at;
  if (row.withdrawn_at !== null) record.withdrawn_at = row.withdrawn_at;
  if (row.withdrawn_reason !== null) record.withdrawn_reason = row.withdrawn_reason;
  return record;
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

function toIdentifierRecord(row: IdentifierRow): IdentifierRecord {
  const record: IdentifierRecord = { identifier: row.identifier, owner: row.owner, name: row.name, state: row.state, created_at: row.created_at };
  if (row.version !== null) record.version = row.version;
  if (row.last_error !== null) record.last_error = row.last_error;
  if (row.updated_at !== null) record.updated_at = row.updated_at;
  return record;
}

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
 * SQL deciding whether the viewer may see the document in `column`, with its named parameters.
 * Mirrors the search index's rule: public, or admin, or the owner, or shared with the user or a group.
 */
function visibilitySql(column: string, viewer: Viewer): { sql: string; params: Record<string, unknown> } {
  if (viewer.admin) return { sql: '1', params: {} };
  const clauses = [`json_extract(${column}, '$.hub.visibility') = 'public'`];
  const params: Record<string, unknown> = {};
  if (viewer.user !== undefined) {
    params.viewerUser = viewer.user;
    clauses.push(`json_extract(${column}, '$.hub.owner') = @viewerUser`);
    clauses.push(`EXISTS (SELECT 1 FROM json_each(${column}, '$.hub.shared_with.users') WHERE value = @viewerUser)`);
  }
  if (viewer.groups && viewer.groups.length > 0) {
    params.viewerGroups = JSON.stringify(viewer.groups);
    clauses.push(
      `EXISTS (SELECT 1 FROM json_each(${column}, '$.hub.shared_with.groups') AS g
               WHERE g.value IN (SELECT value FROM json_each(@viewerGroups)))`,
    );
  }
  return { sql: `(${clauses.join(' OR ')})`, params };
}

/** The write lock was held too long by someone else: a backend condition, not a bug here. */
function translate<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'))) {
      throw new HubError('BACKEND_UNAVAILABLE', 'the registry database is busy; try again', { cause: error, retryAfter: 1 });
    }
    throw error;
  }
}

export class SqliteRegistry implements Registry {
  private constructor(private readonly db: Database.Database) {}

  static open(file: string, options: { busyTimeoutMs?: number } = {}): SqliteRegistry {
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.pragma('foreign_keys = ON');
    SqliteRegistry.migrate(db);
    return new SqliteRegistry(db);
  }

  private static migrate(db: Database.Database): void {
    db.transaction(() => {
      const current = db.pragma('user_version', { simple: true }) as number;
      if (current > MIGRATIONS.length) {
        throw new HubError('INTERNAL', `registry schema version ${current} is newer than this hub understands (${MIGRATIONS.length})`);
      }
      for (let step = current; step < MIGRATIONS.length; step += 1) db.exec(MIGRATIONS[step]!);
      db.pragma(`user_version = ${MIGRATIONS.length}`);
    }).immediate();
  }

  // ---- versions -------------------------------------------------------------------------------

  async reserveVersion(owner: string, name: string): Promise<number> {
    return translate(() =>
      this.db
        .transaction(() => {
          const { next } = this.db
            .prepare('SELECT COALESCE(MAX(version), 0) + 1 AS next FROM versions WHERE owner = ? AND name = ?')
            .get(owner, name) as { next: number };
          // Failed and withdrawn numbers stay taken: an identifier may already name them.
          this.db
            .prepare(`INSERT INTO versions (owner, name, version, state, created_at) VALUES (?, ?, ?, 'pending', ?)`)
            .run(owner, name, next, now());
          return next;
        })
        .immediate(),
    );
  }

  async commitVersion(document: PublishedMetadata): Promise<void> {
    const { owner, name, version } = document.hub;
    translate(() =>
      this.db
        .transaction(() => {
          const row = this.db
            .prepare('SELECT state FROM versions WHERE owner = ? AND name = ? AND version = ?')
            .get(owner, name, version) as { state: VersionState } | undefined;
          if (!row) throw new HubError('VERSION_NOT_FOUND', `${owner}/${name}@${version} was never reserved`);
          if (row.state !== 'pending') {
            throw new HubError('CONFLICT', `${owner}/${name}@${version} is ${row.state}, not pending`);
          }
          const { seq } = this.db
            .prepare('SELECT COALESCE(MAX(publish_seq), 0) + 1 AS seq FROM versions')
            .get() as { seq: number };
          this.db
            .prepare(
              `UPDATE versions SET state = 'published', document = ?, published_at = ?, publish_seq = ?
               WHERE owner = ? AND name = ? AND version = ?`,
            )
            .run(JSON.stringify(document), document.hub.publication_date || now(), seq, owner, name, version);
        })
        .immediate(),
    );
  }

  async failVersion(owner: string, name: string, version: number): Promise<void> {
    translate(() =>
      this.db
        .prepare(`UPDATE versions SET state = 'failed' WHERE owner = ? AND name = ? AND version = ? AND state = 'pending'`)
        .run(owner, name, version),
    );
  }

  async getVersion(owner: string, name: string, version?: number): Promise<VersionRecord | undefined> {
    const row =
      version === undefined
        ? this.db
            .prepare(
              `SELECT * FROM versions WHERE owner = ? AND name = ? AND state = 'published'
               ORDER BY version DESC LIMIT 1`,
            )
            .get(owner, name)
        : this.db.prepare('SELECT * FROM versions WHERE owner = ? AND name = ? AND version = ?').get(owner, name, version);
    return row ? toVersionRecord(row as VersionRow) : undefined;
  }

  async listVersions(owner: string, name: string): Promise<VersionRecord[]> {
    const rows = this.db
      .prepare(
        `SELECT * FROM versions WHERE owner = ? AND name = ? AND state IN ('published', 'withdrawn')
         ORDER BY version DESC`,
      )
      .all(owner, name) as VersionRow[];
    return rows.map(toVersionRecord);
  }

  async listServables(query: ListServablesQuery): Promise<{ items: ServableSummary[]; next_cursor: string | null }> {
    const limit = Number.isFinite(query.limit) ? Math.max(1, Math.min(Math.floor(query.limit), 1000)) : 50;
    const params: Record<string, unknown> = { limit: limit + 1 };
    const where: string[] = [];
    if (query.owner !== undefined) {
      params.owner = query.owner;
      where.push('owner = @owner');
    }
    const outer: string[] = [];
    if (query.cursor !== undefined) {
      params.cursor = decodeCursor(query.cursor);
      outer.push('l.seq < @cursor');
    }
    if (query.viewer) {
      // Versions the viewer may not see are left out before the latest is chosen: a private
      // version 2 must not hide the public version 1 from everyone else.
      const visible = visibilitySql('document', query.viewer);
      Object.assign(params, visible.params);
      where.push(visible.sql);
    }
    // A servable's place in the list is its most recent (visible) publish; what it shows is its
    // latest (visible) version.
    const rows = this.db
      .prepare(
        `WITH latest AS (
           SELECT owner, name, MAX(version) AS version, MAX(publish_seq) AS seq, MAX(published_at) AS updated_at
           FROM versions WHERE state = 'published' ${where.length ? `AND ${where.join(' AND ')}` : ''}
           GROUP BY owner, name)
         SELECT v.*, l.seq AS seq, l.updated_at AS updated_at
         FROM latest l JOIN versions v ON v.owner = l.owner AND v.name = l.name AND v.version = l.version
         ${outer.length ? `WHERE ${outer.join(' AND ')}` : ''}
         ORDER BY l.seq DESC LIMIT @limit`,
      )
      .all(params) as SummaryRow[];
    const page = rows.slice(0, limit);
    const items = page.map((row): ServableSummary => {
      const document = JSON.parse(row.document!) as PublishedMetadata;
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
    return { items, next_cursor: rows.length > limit && last ? encodeCursor(last.seq) : null };
  }

  async *allPublished(): AsyncIterable<PublishedMetadata> {
    // Keyset pages rather than one open iterator: the connection stays usable between yields.
    const page = this.db.prepare(
      `SELECT owner, name, version, document FROM versions
       WHERE state = 'published' AND (owner, name, version) > (@owner, @name, @version)
       ORDER BY owner, name, version LIMIT 200`,
    );
    let after = { owner: '', name: '', version: 0 };
    for (;;) {
      const rows = page.all(after) as { owner: string; name: string; version: number; document: string }[];
      for (const row of rows) yield JSON.parse(row.document) as PublishedMetadata;
      const last = rows.at(-1);
      if (!last || rows.length < 200) return;
      after = { owner: last.owner, name: last.name, version: last.version };
    }
  }

  async withdraw(owner: string, name: string, version: number | undefined, reason: string): Promise<number[]> {
    return translate(() =>
      this.db
        .transaction(() => {
          const rows = this.db
            .prepare(
              `UPDATE versions SET state = 'withdrawn', withdrawn_at = @at, withdrawn_reason = @reason
               WHERE owner = @owner AND name = @name AND state = 'published'
                 AND (@version IS NULL OR version = @version)
               RETURNING version`,
            )
            .all({ owner, name, version: version ?? null, reason, at: now() }) as { version: number }[];
          return rows.map((row) => row.version).sort((a, b) => b - a);
        })
        .immediate(),
    );
  }

  async updateDocument(document: PublishedMetadata): Promise<void> {
    const { owner, name, version } = document.hub;
    const changed = translate(() =>
      this.db
        .prepare(
          `UPDATE versions SET document = ? WHERE owner = ? AND name = ? AND version = ?
             AND state IN ('published', 'withdrawn') AND document IS NOT NULL`,
        )
        .run(JSON.stringify(document), owner, name, version),
    );
    if (changed.changes === 0) throw new HubError('VERSION_NOT_FOUND', `${owner}/${name}@${version}`);
  }

  // ---- tasks ----------------------------------------------------------------------------------

  async createTask(task: TaskDocument): Promise<void> {
    const { log, ...document } = task;
    translate(() =>
      this.db.transaction(() => {
        try {
          this.db
            .prepare(
              `INSERT INTO tasks (task_id, kind, status, servable, version, created_at, document)
               VALUES (?, ?, ?, ?, ?, ?, ?)`,
            )
            .run(task.task_id, task.kind, task.status, task.servable ?? null, task.version ?? null, task.created_at, JSON.stringify(document));
        } catch (error) {
          if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
            throw new HubError('CONFLICT', `task ${task.task_id} exists already`, { cause: error });
          }
          throw error;
        }
        this.insertLog(task.task_id, log ?? []);
      }).immediate(),
    );
  }

  private insertLog(taskId: string, lines: readonly string[]): void {
    const insert = this.db.prepare('INSERT INTO task_log (task_id, line) VALUES (?, ?)');
    for (const line of lines) insert.run(taskId, line);
  }

  private readTask(taskId: string): Omit<TaskDocument, 'log'> | undefined {
    const row = this.db.prepare('SELECT document FROM tasks WHERE task_id = ?').get(taskId) as { document: string } | undefined;
    return row ? (JSON.parse(row.document) as Omit<TaskDocument, 'log'>) : undefined;
  }

  private writeTask(document: Omit<TaskDocument, 'log'>): void {
    this.db
      .prepare('UPDATE tasks SET status = ?, servable = ?, version = ?, document = ? WHERE task_id = ?')
      .run(document.status, document.servable ?? null, document.version ?? null, JSON.stringify(document), document.task_id);
  }

  async updateTask(taskId: string, patch: TaskPatch): Promise<void> {
    translate(() =>
      this.db.transaction(() => {
        const current = this.readTask(taskId);
        if (!current) throw new HubError('TASK_NOT_FOUND', taskId);
        const { log, ...rest } = patch;
        const next: Record<string, unknown> = { ...current };
        for (const [key, value] of Object.entries(rest)) {
          if (value === undefined) delete next[key];
          else next[key] = value;
        }
        this.writeTask(next as Omit<TaskDocument, 'log'>);
        if (log !== undefined) {
          // A patch that carries a log replaces it; appendTaskLog is the cheap way to add lines.
          this.db.prepare('DELETE FROM task_log WHERE task_id = ?').run(taskId);
          this.insertLog(taskId, log);
        }
      }).immediate(),
    );
  }

  async appendTaskLog(taskId: string, line: string): Promise<void> {
    try {
      translate(() => this.db.prepare('INSERT INTO task_log (task_id, line) VALUES (?, ?)').run(taskId, line));
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new HubError('TASK_NOT_FOUND', taskId);
      throw error;
    }
  }

  async getTask(taskId: string): Promise<TaskDocument | undefined> {
    const document = this.readTask(taskId);
    if (!document) return undefined;
    const lines = this.db
      .prepare('SELECT line FROM task_log WHERE task_id = ? ORDER BY seq')
      .pluck()
      .all(taskId) as string[];
    return lines.length > 0 || document.kind === 'publish' ? { ...document, log: lines } : document;
  }

  async settleInterruptedTasks(reason: string): Promise<InterruptedTasks> {
    return translate(() =>
      this.db
        .transaction(() => {
          const ids = this.db
            .prepare(`SELECT task_id FROM tasks WHERE status IN ('PENDING', 'RUNNING') ORDER BY created_at`)
            .pluck()
            .all() as string[];
          const at = now();
          const versionState = this.db.prepare('SELECT state FROM versions WHERE owner = ? AND name = ? AND version = ?').pluck();
          const failVersion = this.db.prepare(
            `UPDATE versions SET state = 'failed' WHERE owner = ? AND name = ? AND version = ? AND state = 'pending'`,
          );
          const committed: TaskDocument[] = [];
          let failed = 0;
          for (const id of ids) {
            const task = this.readTask(id)!;
            const slash = task.servable?.indexOf('/') ?? -1;
            const key = task.kind === 'publish' && slash > 0 && task.version !== undefined
              ? ([task.servable!.slice(0, slash), task.servable!.slice(slash + 1), task.version] as const)
              : undefined;
            const state = key ? (versionState.get(...key) as VersionState | undefined) : undefined;
            // Committed (and perhaps withdrawn since): the publish happened; the hub finishes its task.
            if (state === 'published' || state === 'withdrawn') {
              committed.push(task);
              continue;
            }
            const steps = task.steps?.map((step) =>
              step.status === 'RUNNING' ? { ...step, status: 'FAILED' as const, completed_at: at, message: reason } : step,
            );
            this.writeTask({
              ...task,
              ...(steps ? { steps } : {}),
              status: 'FAILED',
              error: { code: 'MODELHUB_INTERNAL', message: reason },
              completed_at: at,
            });
            if (key) failVersion.run(...key);
            failed += 1;
          }
          return { failed, committed };
        })
        .immediate(),
    );
  }

  async referencedBlobs(): Promise<Set<string>> {
    const digests = this.db
      .prepare(
        `SELECT DISTINCT json_extract(f.value, '$.sha256')
         FROM versions, json_each(versions.document, '$.hub.files') AS f
         WHERE versions.document IS NOT NULL`,
      )
      .pluck()
      .all() as string[];
    return new Set(digests.filter((digest) => typeof digest === 'string'));
  }

  // ---- identifiers ----------------------------------------------------------------------------

  async putIdentifier(record: IdentifierRecord): Promise<void> {
    translate(() =>
      this.db
        .prepare(
          `INSERT INTO identifiers (identifier, owner, name, version, state, created_at, last_error, updated_at)
           VALUES (@identifier, @owner, @name, @version, @state, @created_at, @last_error, @updated_at)
           ON CONFLICT (identifier) DO UPDATE SET
             owner = excluded.owner, name = excluded.name, version = excluded.version, state = excluded.state,
             last_error = excluded.last_error, updated_at = excluded.updated_at`,
        )
        .run({ ...record, version: record.version ?? null, last_error: record.last_error ?? null, updated_at: record.updated_at ?? null }),
    );
  }

  async getIdentifier(identifier: string): Promise<IdentifierRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM identifiers WHERE identifier = ?').get(identifier) as IdentifierRow | undefined;
    return row ? toIdentifierRecord(row) : undefined;
  }

  async listIdentifiers(query: ListIdentifiersQuery): Promise<IdentifierRecord[]> {
    const where: string[] = [];
    if (query.owner !== undefined) where.push('owner = @owner');
    if (query.name !== undefined) where.push('name = @name');
    if (query.state !== undefined) where.push('state = @state');
    const limit = Math.max(1, Math.min(Math.floor(query.limit ?? 1000), 10_000));
    const rows = this.db
      .prepare(`SELECT * FROM identifiers ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, identifier LIMIT @limit`)
      .all({ owner: query.owner, name: query.name, state: query.state, limit }) as IdentifierRow[];
    return rows.map(toIdentifierRecord);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
