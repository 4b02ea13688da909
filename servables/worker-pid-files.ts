/**
 * Worker processes the hub starts (Python workers, the process engine's runners) exit when the hub
 * dies (worker.py's `die_with_parent`). For the rare one that does not (a kernel without
 * PR_SET_PDEATHSIG and a worker stuck in native code, an older worker.py), each live worker is
 * recorded as `<dir>/<pid>.json` with its start time, and the next hub on the same data folder
 * kills the recorded processes that still run with that start time (so a reused pid is spared).
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

interface WorkerRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot; undefined where there is no /proc. */
  started?: string;
  hub_pid: number;
}

/**
 * A process's start time in clock ticks after boot (Linux), 'exited' for a zombie, or undefined
 * where /proc is not there (macOS) or the process is gone.
 */
export function processStartTime(pid: number): string | undefined {
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

/** Whether `pid` runs (not a zombie). */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return processStartTime(pid) !== 'exited';
}

/**
 * Records a just-spawned worker; answers the function that forgets it (call it once it exited).
 * Failures to write are ignored: the record only helps reaping, the worker works without it.
 */
export function recordWorker(dir: string, pid: number | undefined): () => Promise<void> {
  if (pid === undefined) return async () => undefined;
  const file = path.join(dir, `${pid}.json`);
  const record: WorkerRecord = { pid, started: processStartTime(pid), hub_pid: process.pid };
  const written = fs
    .mkdir(dir, { recursive: true })
    .then(() => fs.writeFile(file, JSON.stringify(record)))
    .catch(() => undefined);
  return async () => {
    await written;
    await fs.rm(file, { force: true });
  };
}

/**
 * Kills (SIGKILL) the recorded workers of an earlier hub that still run, and forgets every record.
 * Call it at start, while holding the data folder, before starting workers. Answers the pids killed.
 */
export async function reapStaleWorkers(dir: string): Promise<number[]> {
  const entries = await fs.readdir(dir).catch(() => [] as string[]);
  const killed: number[] = [];
  for (const entry of entries) {
    if (!entry.endsWith('.json')) continue;
    const file = path.join(dir, entry);
    let record: WorkerRecord | undefined;
    try {
      record = JSON.parse(await fs.readFile(file, 'utf8')) as WorkerRecord;
    } catch {
      record = undefined; // cut short by a crash while written: nothing to go by
    }
    const pid = record?.pid;
    if (record && Number.isInteger(pid) && pid! > 1 && pid !== process.pid && processRuns(pid!)) {
      const started = processStartTime(pid!);
      // Without a start time to compare (no /proc) the pid alone is too weak a proof: leave it.
      if (record.started !== undefined && started === record.started) {
        try {
          process.kill(pid!, 'SIGKILL');
          killed.push(pid!);
        } catch {
          // gone meanwhile, or not ours to kill
        }
      }
    }
    await fs.rm(file, { force: true });
  }
  return killed;
}
