import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { MetadataServable } from '../../sdk/models/metadata-servable.ts';
import { ARCHIVE_NAME, packFiles, planUpload } from '../../sdk/pack-files.ts';

const HUMAN_MODELS = path.resolve('node_modules/@vladmandic/human/models');
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const work = mkdtempSync(path.join(tmpdir(), 'sdk-pack-'));
afterAll(() => rm(work, { recursive: true, force: true }));

/** Every file under `dir`, as relative posix path → sha256. */
function tree(dir: string, base = dir): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) Object.assign(out, tree(full, base));
    else out[path.relative(base, full).split(path.sep).join('/')] = sha(full);
  }
  return out;
}

const tfjsModel = () =>
  MetadataServable.fromDocument({
    servable: { type: 'tfjs', model_file: 'model/emotion.json', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } },
  })
    // A real TF.js graph model: the topology and its weight shard, in a sub-folder.
    .addFile(path.join(HUMAN_MODELS, 'emotion.json'), 'model/emotion.json')
    .addFile(path.join(HUMAN_MODELS, 'emotion.bin'), 'model/emotion.bin')
    .addFile(path.join(HUMAN_MODELS, 'README.md'), 'README.md');

describe('packing a servable', () => {
  it('writes a .tar.gz whose entries are the servable paths with the same bytes', async () => {
    const archive = path.join(work, 'x.tar.gz');
    await packFiles(tfjsModel().files(), archive);
    expect(readFileSync(archive).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const out = path.join(work, 'unpacked');
    await import('node:fs/promises').then((fs) => fs.mkdir(out));
    await tar.extract({ file: archive, cwd: out, strict: true });
    expect(tree(out)).toEqual({
      'model/emotion.json': sha(path.join(HUMAN_MODELS, 'emotion.json')),
      'model/emotion.bin': sha(path.join(HUMAN_MODELS, 'emotion.bin')),
      'README.md': sha(path.join(HUMAN_MODELS, 'README.md')),
    });
    // Regular files, not links to this machine's paths.
    const types: string[] = [];
    await tar.list({ file: archive, onReadEntry: (entry) => void types.push(`${entry.type}:${entry.path}`) });
    expect(types.filter((t) => !t.startsWith('Directory:')).sort()).toEqual(
      ['File:README.md', 'File:model/emotion.bin', 'File:model/emotion.json'],
    );
  });

  it('sends flat files as separate parts and folders as one archive', async () => {
    const flat = await planUpload([{ localPath: path.join(HUMAN_MODELS, 'emotion.json'), path: 'emotion.json' }]);
    expect(flat.parts).toEqual([
      {
        fileName: 'emotion.json',
        localPath: path.join(HUMAN_MODELS, 'emotion.json'),
        size: statSync(path.join(HUMAN_MODELS, 'emotion.json')).size,
        contentType: 'application/octet-stream',
      },
    ]);
    const nested = await planUpload(tfjsModel().files());
    expect(nested.parts).toHaveLength(1);
    expect(nested.parts[0]).toMatchObject({ fileName: ARCHIVE_NAME, contentType: 'application/gzip' });
    expect(nested.parts[0]!.size).toBe(statSync(nested.parts[0]!.localPath).size);
    await nested.cleanup();
    expect(() => statSync(nested.parts[0]!.localPath)).toThrow(/ENOENT/);
  });
});
