/**
 * One hub per data folder. Two hubs on one folder would each take the other's running publish
 * tasks for interrupted ones at start (and fail them), and `modelhub gc` run beside a hub would
 * remove that hub's warm containers. The hub holds `<data>/hub.lock` while it runs; a lock whose
 * process has gone (a hub killed with SIGKILL, a machine restart) is stale and taken over.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface DataFolderHolder {
  pid: number;
  host: string;
  /** The process's start time in clock ticks after boot (Linux), so a reused pid is not taken for it. */
  started?: string;
  since: string;
}

export class DataFolderInUseError extends Error {
  constructor(readonly dataDir: string, readonly holder: DataFolderHolder) {
    super(
      `another hub (pid ${holder.pid} on ${holder.host}, since ${holder.since}) is using the data folder ${dataDir}; ` +
        'stop it first, or give this one its own MODELHUB_DATA',
    );
    this.name = 'DataFolderInUseError';
  }
}

const lockFile = (dataDir: string) => path.join(dataDir, 'hub.lock');

/** Field 22 of /proc/<pid>/stat, or undefined where /proc is not there (macOS). */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is the state (field 3); a zombie has exited and only waits to be reaped.
    if (fields[0] === 'Z') return 'exited';
    return fields[19];
  } catch {
    return undefined;
  }
}

function isAlive(holder: DataFolderHolder): boolean {
  if (holder.host !== os.hostname()) return true; // Cannot tell; a shared folder is the operator's call.
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = processStartTime(holder.pid);
  if (started === 'exited') return false;
  return holder.started === undefined || started === undefined || started === holder.started;
}

async function readHolder(dataDir: string): Promise<DataFolderHolder | undefined> {
  const text = await fs.readFile(lockFile(dataDir), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const holder = JSON.parse(text) as DataFolderHolder;
    return Number.isInteger(holder.pid) && typeof holder.host === 'string' ? holder : undefined;
  } catch {
    return undefined; // A lock cut short by a crash while it was written holds nothing.
  }
}

/** The running hub that holds the folder, if any. */
export async function hubHoldingDataFolder(dataDir: string): Promise<DataFolderHolder | undefined> {
  const holder = await readHolder(dataDir);
  return holder && isAlive(holder) ? holder : undefined;
}

/** Takes the folder for this process, or throws DataFolderInUseError; returns the release. */
export async function claimDataFolder(dataDir: string): Promise<() => Promise<void>> {
  const me: DataFolderHolder = { pid: process.pid, host: os.hostname(), started: processStartTime(process.pid), since: new Date().toISOString() };
  const file = lockFile(dataDir);
  for (let attempt = 0; ; attempt += 1) {
    try {
      // 'wx': exactly one of two hubs starting at once creates it.
      await fs.writeFile(file, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        const holder = await readHolder(dataDir);
        if (holder) throw new DataFolderInUseError(dataDir, holder);
        throw error;
      }
      const holder = await readHolder(dataDir);
      if (holder && isAlive(holder)) throw new DataFolderInUseError(dataDir, holder);
      await fs.rm(file, { force: true });
    }
  }
  return async () => {
    const holder = await readHolder(dataDir);
    if (holder?.pid === process.pid && holder.since === me.since) await fs.rm(file, { force: true });
  };
}
