/**
 * Opens one embedded SQLite file of the hub (WAL, a busy timeout) and brings its schema up to date
 * with numbered migrations kept in `user_version`.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { HubError } from '../../schemas/errors.ts';

export function openSqliteFile(file: string, migrations: readonly string[], what: string): Database.Database {
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > migrations.length) throw new HubError('INTERNAL', `${what} schema version ${current} is newer than this hub understands (${migrations.length})`);
    for (let step = current; step < migrations.length; step += 1) db.exec(migrations[step]!);
    db.pragma(`user_version = ${migrations.length}`);
  }).immediate();
  return db;
}
