/**
 * The sweep of what dead publishes leave (hub-server/use-cases/leftover-sweeper.ts) on a real blob
 * store and registry: what no version names goes once past the grace period; what a version names,
 * what a running publish uses and what is young stay.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../hub-server/adapters/fs-blob-store.ts';
import { SqliteRegistry } from '../../hub-server/adapters/sqlite-registry.ts';
import { LeftoverSweeper, sweepBlobs, sweepUploads, unreferencedBlobs } from '../../hub-server/use-cases/leftover-sweeper.ts';
import { publishedDocument } from '../contract/metadata-fixtures.ts';

const HOUR = 3600_000;
const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

function tempRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-sweep-'));
  roots.push(root);
  return root;
}

async function setup() {
  const root = tempRoot();
  const blobs = new FsBlobStore(path.join(root, 'blobs'));
  const registry = SqliteRegistry.open(':memory:');
  const referenced = await blobs.put(Buffer.from('the model of a published version'));
  const version = await registry.reserveVersion('alice', 'model');
  const document = publishedDocument({ owner: 'alice', name: 'model', version, title: 'A model' });
  await registry.commitVersion({ ...document, hub: { ...document.hub, files: [{ path: 'm.onnx', sha256: referenced.sha256, size: referenced.size }] } });
  const orphan = await blobs.put(Buffer.from('stored by a publish that died'));
  const inUse = await blobs.put(Buffer.from('stored by a publish still running'));
  return { root, blobs, registry, referenced, orphan, inUse };
}

describe('sweeping what dead publishes leave', () => {
  it('removes blobs no version names once past the grace period, never what a version or a running publish uses', async () => {
    const { blobs, registry, referenced, orphan, inUse } = await setup();
    const inFlight = () => new Set([inUse.sha256]);
    // Young: kept.
    expect(await unreferencedBlobs({ blobs, registry, graceMs: HOUR, inUse: inFlight })).toEqual([]);
    // Two hours later (by the sweep's clock): only the orphan goes.
    const later = () => Date.now() + 2 * HOUR;
    const swept = await sweepBlobs({ blobs, registry, graceMs: HOUR, inUse: inFlight, now: later });
    expect(swept.removed.map((blob) => blob.sha256)).toEqual([orphan.sha256]);
    expect(swept.bytes).toBe(orphan.size);
    expect(await blobs.has(orphan.sha256)).toBe(false);
    expect(await blobs.has(referenced.sha256)).toBe(true);
    expect(await blobs.has(inUse.sha256)).toBe(true);
    // Once that publish is over without a version, its blob goes too.
    expect((await sweepBlobs({ blobs, registry, graceMs: HOUR, now: later })).removed.map((blob) => blob.sha256)).toEqual([inUse.sha256]);
    await registry.close();
  });

  it('a blob stored again is young again (a publish reusing an orphan keeps it)', async () => {
    const { blobs, registry, orphan, root } = await setup();
    const file = path.join(root, 'blobs', orphan.sha256.slice(0, 2), orphan.sha256.slice(2));
    const longAgo = new Date(Date.now() - 2 * HOUR);
    fs.utimesSync(file, longAgo, longAgo);
    expect((await unreferencedBlobs({ blobs, registry, graceMs: HOUR })).map((blob) => blob.sha256)).toContain(orphan.sha256);
    await blobs.put(Buffer.from('stored by a publish that died'));
    expect((await unreferencedBlobs({ blobs, registry, graceMs: HOUR })).map((blob) => blob.sha256)).not.toContain(orphan.sha256);
    await registry.close();
  });

  it('removes upload folders past the grace period, judged by the newest file inside, unless a publish uses them', async () => {
    const uploads = path.join(tempRoot(), 'uploads');
    const folder = (name: string, ageMs: number, innerAgeMs = ageMs) => {
      const dir = path.join(uploads, name);
      fs.mkdirSync(path.join(dir, 'parts'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'parts', '0'), Buffer.alloc(1000));
      const [outer, inner] = [new Date(Date.now() - ageMs), new Date(Date.now() - innerAgeMs)];
      fs.utimesSync(path.join(dir, 'parts', '0'), inner, inner);
      fs.utimesSync(path.join(dir, 'parts'), outer, outer);
      fs.utimesSync(dir, outer, outer);
      return dir;
    };
    folder('dead', 2 * HOUR);
    folder('arriving', 2 * HOUR, 0); // an old folder whose part is still being written
    const running = folder('running', 2 * HOUR);
    const swept = await sweepUploads(uploads, { graceMs: HOUR, inUse: () => new Set([running]) });
    expect(swept).toEqual({ removed: ['dead'], bytes: 1000 });
    expect(fs.readdirSync(uploads).sort()).toEqual(['arriving', 'running']);
    expect(await sweepUploads(path.join(uploads, 'missing'), { graceMs: 0 })).toEqual({ removed: [], bytes: 0 });
  });

  it('the periodic sweeper sweeps at once, reports what it removed, and stops', async () => {
    const { blobs, registry, orphan, root } = await setup();
    const reports: unknown[] = [];
    const sweeper = new LeftoverSweeper({
      uploadsDir: path.join(root, 'uploads'),
      blobs,
      registry,
      graceMs: 0,
      intervalMs: HOUR,
      log: (report) => reports.push(report),
      onError: (error) => reports.push(error),
    });
    sweeper.start();
    const report = await sweeper.sweep();
    await sweeper.stop();
    expect(report?.blobs.map((blob) => blob.sha256).sort()).toEqual(expect.arrayContaining([orphan.sha256]));
    expect(await blobs.has(orphan.sha256)).toBe(false);
    expect(reports.length).toBeGreaterThan(0);
    await registry.close();
  });
});
