/**
 * One hub per data folder: the lock is taken once, refused while its holder lives, and taken over
 * when the holder has gone (killed, or a pid since reused by another program) or the file is torn.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimDataFolder, DataFolderInUseError, hubHoldingDataFolder } from '../../hub-server/adapters/data-folder-lock.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'modelhub-lock-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const writeLock = (holder: object) => writeFileSync(path.join(dir, 'hub.lock'), JSON.stringify(holder));

/** A process that lives until killed, and the promise of its exit. */
function sleeper() {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { pid: child.pid!, stop: async () => { child.kill('SIGKILL'); await exited; } };
}

describe('data folder lock', () => {
  it('is held by one claim at a time and free again once released', async () => {
    const release = await claimDataFolder(dir);
    expect(await hubHoldingDataFolder(dir)).toMatchObject({ pid: process.pid, host: os.hostname() });
    const refused = await claimDataFolder(dir).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DataFolderInUseError);
    expect((refused as Error).message).toContain(`pid ${process.pid}`);
    await release();
    expect(await hubHoldingDataFolder(dir)).toBeUndefined();
    await (await claimDataFolder(dir))();
  });

  it('refuses while another live process holds it, and takes it over once that process is gone', async () => {
    const other = sleeper();
    try {
      writeLock({ pid: other.pid, host: os.hostname(), since: new Date().toISOString() });
      expect(await hubHoldingDataFolder(dir)).toMatchObject({ pid: other.pid });
      await expect(claimDataFolder(dir)).rejects.toBeInstanceOf(DataFolderInUseError);
    } finally {
      await other.stop();
    }
    expect(await hubHoldingDataFolder(dir)).toBeUndefined();
    const release = await claimDataFolder(dir);
    expect(await hubHoldingDataFolder(dir)).toMatchObject({ pid: process.pid });
    await release();
  });

  it('takes over a lock whose pid now belongs to a program started later, and a torn lock file', async () => {
    // This very process, but with another start time: the pid was reused after the holder died.
    writeLock({ pid: process.pid, host: os.hostname(), started: '1', since: new Date(0).toISOString() });
    if (process.platform === 'linux') expect(await hubHoldingDataFolder(dir)).toBeUndefined();
    writeFileSync(path.join(dir, 'hub.lock'), '{"pid": 12');
    expect(await hubHoldingDataFolder(dir)).toBeUndefined();
    await (await claimDataFolder(dir))();
  });
});
