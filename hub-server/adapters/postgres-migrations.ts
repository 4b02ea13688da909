/**
 * The PostgreSQL schema of every shared store, as numbered steps (step N is migration id N). Never
 * edit or reorder a shipped step: add one. `postgres-database.ts` applies the missing ones under an
 * advisory lock, so replicas starting at once agree.
 *
 * Timestamps the hub hands in are kept as the ISO text it gave (the ports return them unchanged);
 * documents are JSONB so that visibility can be decided in SQL.
 */
export interface PostgresMigration {
  name: string;
  sql: string;
}

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    name: 'registry',
    sql: `
      CREATE TABLE versions (
        owner            TEXT    NOT NULL,
        name             TEXT    NOT NULL,
        version          INTEGER NOT NULL CHECK (version >= 1),
        state            TEXT    NOT NULL CHECK (state IN ('pending', 'published', 'failed', 'withdrawn')),
        document         JSONB,
        created_at       TEXT    NOT NULL,
        published_at     TEXT,
        publish_seq      BIGINT  UNIQUE,
        withdrawn_at     TEXT,
        withdrawn_reason TEXT,
        PRIMARY KEY (owner, name, version)
      );
      CREATE INDEX versions_by_state ON versions (state, owner, name);
      -- The order of publishes across every replica (the listing's cursor).
      CREATE SEQUENCE versions_publish_seq;
      -- The last number handed out per servable: one row lock serialises concurrent reservations.
      CREATE TABLE version_counters (
        owner TEXT    NOT NULL,
        name  TEXT    NOT NULL,
        last  INTEGER NOT NULL,
        PRIMARY KEY (owner, name)
      );

      CREATE TABLE tasks (
        task_id    TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        status     TEXT NOT NULL,
        servable   TEXT,
        version    INTEGER,
        created_at TEXT NOT NULL,
        document   JSONB NOT NULL
      );
      CREATE INDEX tasks_by_status ON tasks (status, created_at);
      CREATE TABLE task_log (
        seq     BIGSERIAL PRIMARY KEY,
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
        created_at TEXT NOT NULL,
        last_error TEXT,
        updated_at TEXT
      );
      CREATE INDEX identifiers_by_servable ON identifiers (owner, name, version);
      CREATE INDEX identifiers_by_state ON identifiers (state, created_at);
    `,
  },
  {
    name: 'tokens',
    sql: `
      CREATE TABLE tokens (
        id           TEXT PRIMARY KEY,
        hash         TEXT NOT NULL UNIQUE,
        prefix       TEXT NOT NULL,
        user_name    TEXT NOT NULL,
        groups       JSONB NOT NULL,
        scopes       JSONB NOT NULL,
        label        TEXT,
        created_at   TEXT NOT NULL,
        created_by   TEXT,
        expires_at   TEXT,
        revoked_at   TEXT,
        last_used_at TEXT
      );
      CREATE INDEX tokens_by_user ON tokens (user_name, created_at);
      CREATE TABLE task_creators (
        task_id   TEXT PRIMARY KEY,
        user_name TEXT
      );
    `,
  },
  {
    name: 'search',
    sql: `
      CREATE TABLE search_docs (
        id           BIGSERIAL PRIMARY KEY,
        owner        TEXT     NOT NULL,
        name         TEXT     NOT NULL,
        version      INTEGER  NOT NULL,
        visibility   TEXT     NOT NULL,
        type         TEXT     NOT NULL,
        published_at TEXT     NOT NULL,
        is_latest    BOOLEAN  NOT NULL DEFAULT false,
        hit          JSONB    NOT NULL,
        title_key    TEXT     NOT NULL,
        servable     TEXT     NOT NULL,
        words        TSVECTOR NOT NULL,
        UNIQUE (owner, name, version)
      );
      CREATE INDEX search_docs_words ON search_docs USING GIN (words);
      CREATE INDEX search_docs_by_date ON search_docs (is_latest, published_at);
      -- field: domain | author | doi | share_user | share_group; folded is what filters compare.
      CREATE TABLE search_terms (
        doc_id BIGINT NOT NULL REFERENCES search_docs (id) ON DELETE CASCADE,
        field  TEXT   NOT NULL,
        folded TEXT   NOT NULL,
        value  TEXT   NOT NULL,
        PRIMARY KEY (doc_id, field, folded)
      );
      CREATE INDEX search_terms_by_value ON search_terms (field, folded);
    `,
  },
  {
    name: 'identity-links',
    sql: `
      CREATE TABLE identity_links (
        issuer       TEXT  NOT NULL,
        subject      TEXT  NOT NULL,
        user_name    TEXT  NOT NULL,
        groups       JSONB NOT NULL,
        created_at   TEXT  NOT NULL,
        last_seen_at TEXT  NOT NULL,
        PRIMARY KEY (issuer, subject)
      );
      CREATE INDEX identity_links_by_user ON identity_links (user_name, created_at);
    `,
  },
  {
    // Which replica runs each task, and which replicas are alive (a heartbeat): a replica starting
    // up settles only the tasks of replicas that stopped, never those another live replica runs.
    name: 'replica-leases',
    sql: `
      CREATE TABLE registry_replicas (
        replica_id TEXT PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        last_seen  TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      ALTER TABLE tasks ADD COLUMN replica_id TEXT;
    `,
  },
  {
    name: 'actions',
    sql: `
      CREATE TABLE actions (
        action_id       TEXT PRIMARY KEY,
        provider        TEXT    NOT NULL,
        creator         TEXT    NOT NULL,
        request_id      TEXT    NOT NULL,
        request_hash    TEXT    NOT NULL,
        request         JSONB   NOT NULL,
        viewer          JSONB   NOT NULL,
        status          TEXT    NOT NULL,
        display_status  TEXT    NOT NULL,
        details         JSONB   NOT NULL,
        start_time      TEXT    NOT NULL,
        completion_time TEXT,
        release_after_s INTEGER NOT NULL,
        deadline_ms     BIGINT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        expires_at_ms   BIGINT,
        UNIQUE (provider, creator, request_id)
      );
      CREATE INDEX actions_by_status ON actions (status, start_time);
      CREATE INDEX actions_by_expiry ON actions (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
      CREATE TABLE action_log (
        seq         BIGSERIAL PRIMARY KEY,
        action_id   TEXT NOT NULL REFERENCES actions (action_id) ON DELETE CASCADE,
        time        TEXT NOT NULL,
        code        TEXT NOT NULL,
        description TEXT NOT NULL,
        details     JSONB
      );
      CREATE INDEX action_log_by_action ON action_log (action_id, seq);
    `,
  },
  {
    // The audit log of every replica in one table; the rate-limit buckets every replica takes from
    // (a token bucket per key, refilled by the database's clock); the blobs each running publish
    // has stored before its version names them, so that no replica's sweep removes them.
    name: 'audit-rate-limits-task-blobs',
    sql: `
      CREATE TABLE audit_events (
        seq      BIGSERIAL PRIMARY KEY,
        at       TEXT  NOT NULL,
        action   TEXT  NOT NULL,
        actor    TEXT  NOT NULL,
        token_id TEXT,
        target   TEXT,
        status   INTEGER,
        ip       TEXT,
        detail   JSONB
      );
      CREATE INDEX audit_events_by_action ON audit_events (action, seq);
      CREATE INDEX audit_events_by_actor ON audit_events (actor, seq);
      CREATE INDEX audit_events_by_time ON audit_events (at);

      CREATE TABLE rate_buckets (
        key        TEXT             PRIMARY KEY,
        tokens     DOUBLE PRECISION NOT NULL,
        updated_ms DOUBLE PRECISION NOT NULL,
        allowed    BOOLEAN          NOT NULL
      );
      CREATE INDEX rate_buckets_by_age ON rate_buckets (updated_ms);

      CREATE TABLE task_blobs (
        task_id TEXT NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
        sha256  TEXT NOT NULL,
        PRIMARY KEY (task_id, sha256)
      );
    `,
  },
  {
    // Work any replica can finish: a job per asynchronous run, action or publish, leased to the
    // replica working on it and renewed by its heartbeat; a lease that runs out (the replica died)
    // lets another replica claim the job (FOR UPDATE SKIP LOCKED) and resume or retry it.
    name: 'jobs',
    sql: `
      CREATE TABLE jobs (
        job_id       TEXT        PRIMARY KEY,
        kind         TEXT        NOT NULL,
        payload      JSONB       NOT NULL,
        state        TEXT        NOT NULL CHECK (state IN ('queued', 'active', 'done')),
        attempts     INTEGER     NOT NULL DEFAULT 0,
        max_attempts INTEGER     NOT NULL,
        lease_owner  TEXT,
        lease_until  TIMESTAMPTZ,
        created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
        finished_at  TIMESTAMPTZ
      );
      CREATE INDEX jobs_claimable ON jobs (state, lease_until) WHERE state <> 'done';
    `,
  },
  {
    // Citable collections (docs/collections.md): members and creators as JSONB, read and written
    // whole; "which collections name this version" is a containment query on members.
    name: 'collections',
    sql: `
      CREATE TABLE collections (
        owner            TEXT  NOT NULL,
        name             TEXT  NOT NULL,
        title            TEXT  NOT NULL,
        description      TEXT,
        creators         JSONB NOT NULL,
        members          JSONB NOT NULL,
        visibility       TEXT  NOT NULL CHECK (visibility IN ('public', 'private')),
        identifier       TEXT  NOT NULL UNIQUE,
        identifier_type  TEXT  NOT NULL,
        identifier_state TEXT  NOT NULL,
        last_error       TEXT,
        created_at       TEXT  NOT NULL,
        updated_at       TEXT  NOT NULL,
        withdrawn_at     TEXT,
        PRIMARY KEY (owner, name)
      );
      CREATE INDEX collections_by_state ON collections (identifier_state);
      CREATE INDEX collections_by_identifier ON collections (lower(identifier));
      CREATE INDEX collections_members ON collections USING GIN (members jsonb_path_ops);
    `,
  },
  {
    // The last per-replica stores: compute endpoints (an agent may connect to any replica), stored
    // runs (provenance: a run made on one replica is exported and replayed through any other) and
    // the examples and reproducibility checks of versions. Runs, examples and checks keep the JSON
    // text they were given (not JSONB, which reorders keys and rewrites numbers): a provenance
    // record's digests and a check's expected outputs are compared with what was stored.
    name: 'endpoints-runs-reproducibility',
    sql: `
      CREATE TABLE compute_endpoints (
        owner         TEXT  NOT NULL,
        name          TEXT  NOT NULL,
        token_hash    TEXT  NOT NULL UNIQUE,
        owner_groups  JSONB NOT NULL,
        executor      TEXT  NOT NULL,
        resources     JSONB NOT NULL,
        shared_users  JSONB NOT NULL,
        shared_groups JSONB NOT NULL,
        created_at    TEXT  NOT NULL,
        last_seen_at  TEXT,
        PRIMARY KEY (owner, name)
      );

      CREATE TABLE stored_runs (
        run_id     TEXT    PRIMARY KEY,
        servable   TEXT    NOT NULL,
        version    INTEGER NOT NULL,
        record     TEXT    NOT NULL,
        inputs     TEXT    NOT NULL,
        parameters TEXT    NOT NULL,
        output     TEXT    NOT NULL,
        caller     TEXT,
        stored_at  TEXT    NOT NULL
      );
      CREATE INDEX stored_runs_by_servable ON stored_runs (servable, version, stored_at);

      CREATE TABLE version_examples (
        owner    TEXT    NOT NULL,
        name     TEXT    NOT NULL,
        version  INTEGER NOT NULL,
        examples TEXT    NOT NULL,
        PRIMARY KEY (owner, name, version)
      );
      CREATE TABLE reproducibility_checks (
        id         BIGSERIAL PRIMARY KEY,
        owner      TEXT    NOT NULL,
        name       TEXT    NOT NULL,
        version    INTEGER NOT NULL,
        checked_at TEXT    NOT NULL,
        record     TEXT    NOT NULL
      );
      CREATE INDEX reproducibility_checks_by_version ON reproducibility_checks (owner, name, version, id);
    `,
  },
  {
    // Webhooks and their delivery queue, which every replica's dispatcher claims from; usage counts
    // (docs/webhooks.md, docs/usage.md).
    name: 'webhooks-usage',
    sql: `
      CREATE TABLE webhooks (
        id            TEXT PRIMARY KEY,
        owner         TEXT NOT NULL,
        name          TEXT,
        url           TEXT NOT NULL,
        events        JSONB NOT NULL,
        secret        TEXT NOT NULL,
        description   TEXT,
        created_by    TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('active', 'failing')),
        failing_since TEXT
      );
      CREATE INDEX webhooks_by_owner ON webhooks (owner, created_at);
      CREATE TABLE webhook_deliveries (
        id              TEXT PRIMARY KEY,
        seq             BIGSERIAL,
        webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        event           TEXT NOT NULL,
        payload         TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL,
        created_at      TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        last_attempt_at TEXT,
        last_status     INTEGER,
        last_error      TEXT,
        delivered_at    TEXT
      );
      CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, seq) WHERE state = 'pending';
      CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);
      CREATE TABLE usage_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE usage_days (
        owner          TEXT NOT NULL,
        name           TEXT NOT NULL,
        version        INTEGER NOT NULL,
        day            TEXT NOT NULL,
        runs           BIGINT NOT NULL,
        errors         BIGINT NOT NULL,
        total_ms       DOUBLE PRECISION NOT NULL,
        anonymous_runs BIGINT NOT NULL,
        PRIMARY KEY (owner, name, version, day)
      );
      CREATE TABLE usage_callers (
        owner       TEXT NOT NULL,
        name        TEXT NOT NULL,
        version     INTEGER NOT NULL,
        day         TEXT NOT NULL,
        caller_hash TEXT NOT NULL,
        PRIMARY KEY (owner, name, version, day, caller_hash)
      );
    `,
  },
];
