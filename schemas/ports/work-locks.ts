/**
 * Named locks for work that one worker at a time must do (a pending identifier pushed to DataCite,
 * a sweep of shared blobs). In one process they are in memory; replicas on PostgreSQL take
 * session-level advisory locks, which the database releases by itself when the holder's connection
 * ends, so a replica killed while holding one blocks nobody.
 */
export type LockOutcome<T> = { ran: true; value: T } | { ran: false };

export interface WorkLocks {
  readonly kind: 'memory' | 'postgres';
  /** Runs `work` holding lock `name`; when any other holder has it, answers `{ ran: false }` at once without running it. */
  tryWithLock<T>(name: string, work: () => Promise<T>): Promise<LockOutcome<T>>;
  /** Runs `work` holding lock `name`, waiting for it as long as another holder has it. */
  withLock<T>(name: string, work: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
