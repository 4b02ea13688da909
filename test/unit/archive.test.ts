/**
 * Unpacking model archives (builder/archive.ts) made by the tools people use — GNU tar, Python's
 * tarfile and zipfile, Info-ZIP — including the hostile ones: what a model folder holds comes out,
 * anything ambiguous or unstorable is MODELHUB_INVALID_ARCHIVE (a client error), never a file-system
 * error that would surface as MODELHUB_INTERNAL.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { extractArchive, listFiles, pathProblem, safeRelativePath, type ArchiveKind } from '../../builder/archive.ts';
import { HubError } from '../../schemas/errors.ts';
import { zipOf } from '../helpers/zip-bytes.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-archive-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => path.join(tmp, `${counter++}-${name}`);

/** Debian's interpreter, which has tarfile and zipfile (the one first on PATH may be another). */
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/**
 * An archive written by Python's tarfile or zipfile, entry by entry as given (names are passed as
 * JSON, so NUL bytes and 5,000-character names reach the archive unchanged).
 */
function pythonArchive(kind: 'tar' | 'zip', entries: { name: string; folder?: boolean; data?: string }[]): string {
  const file = fresh(`hostile.${kind}`);
  const script = `
import io, json, sys, tarfile, zipfile
kind, out, entries = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if kind == 'tar':
    with tarfile.open(out, 'w', format=tarfile.PAX_FORMAT) as archive:
        for e in entries:
            info = tarfile.TarInfo(e['name'])
            data = e.get('data', '').encode()
            if e.get('folder'):
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
else:
    with zipfile.ZipFile(out, 'w') as archive:
        for e in entries:
            archive.writestr(e['name'], e.get('data', ''))
`;
  // stderr ignored: zipfile warns about the duplicate names some tests write on purpose.
  execFileSync(PYTHON, ['-c', script, kind, file, JSON.stringify(entries)], { stdio: ['ignore', 'ignore', 'ignore'] });
  return file;
}

async function extracted(file: string, kind: ArchiveKind): Promise<Record<string, string>> {
  const destination = fresh('out');
  await extractArchive(file, kind, destination);
  const files = await listFiles(destination);
  return Object.fromEntries(files.map((f) => [f, fs.readFileSync(path.join(destination, f), 'utf8')]));
}

async function refused(file: string, kind: ArchiveKind, message: RegExp): Promise<void> {
  const destination = fresh('out');
  const error = await extractArchive(file, kind, destination).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `${path.basename(file)} was unpacked`).toBeInstanceOf(HubError);
  expect((error as HubError).code).toBe('MODELHUB_INVALID_ARCHIVE');
  expect((error as HubError).status).toBe(400);
  expect((error as HubError).message).toMatch(message);
  // Nothing half-unpacked is left behind.
  expect(fs.existsSync(destination)).toBe(false);
}

describe('model archives', () => {
  it('unpacks `tar czf m.tgz -C dir .` (entries "./", "./model.onnx") and the zip of a folder', async () => {
    const dir = fresh('folder');
    fs.mkdirSync(path.join(dir, 'weights'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'model.onnx'), 'model');
    fs.writeFileSync(path.join(dir, 'weights', 'w.bin'), 'weights');
    const tgz = fresh('m.tgz');
    execFileSync('tar', ['czf', tgz, '-C', dir, '.']);
    // The listing GNU tar writes starts with the folder itself, "./": the case the hub refused.
    expect(execFileSync('tar', ['tzf', tgz], { encoding: 'utf8' }).split('\n')).toContain('./');
    expect(await extracted(tgz, 'tar.gz')).toEqual({ 'model.onnx': 'model', 'weights/w.bin': 'weights' });

    const zip = fresh('m.zip');
    execFileSync('zip', ['-qr', zip, '.'], { cwd: dir });
    expect(await extracted(zip, 'zip')).toEqual({ 'model.onnx': 'model', 'weights/w.bin': 'weights' });

    // Python's zipfile with an explicit "./" folder entry, as some tools write it.
    expect(await extracted(pythonArchive('zip', [{ name: './', folder: true }, { name: './model.onnx', data: 'm' }]), 'zip')).toEqual({ 'model.onnx': 'm' });
  });

  it('still refuses entries that really escape the folder', async () => {
    for (const kind of ['tar', 'zip'] as const) {
      for (const name of ['../model.onnx', 'a/../../model.onnx', '/tmp/model.onnx']) {
        const file = pythonArchive(kind, [{ name, data: 'x' }]);
        // yauzl refuses some of these itself (strictFileNames): either way an invalid archive.
        await refused(file, kind, /escapes|invalid relative path|absolute path|not a readable/);
      }
    }
    const dir = fresh('escape');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'model.onnx'), 'm');
    const tar = fresh('dotdot.tar');
    // GNU tar keeps "../" members only when told to (-P); a hostile client does exactly that.
    execFileSync('tar', ['cPf', tar, '-C', dir, `../${path.basename(dir)}/model.onnx`]);
    await refused(tar, 'tar', /escapes/);
  });

  it('refuses a file and a folder of one name, in either order, and a name given twice', async () => {
    for (const kind of ['tar', 'zip'] as const) {
      await refused(pythonArchive(kind, [{ name: 'a', data: 'x' }, { name: 'a/', folder: true }]), kind, /"a\/" is a folder of the same name as a file/);
      await refused(pythonArchive(kind, [{ name: 'a/', folder: true }, { name: 'a', data: 'x' }]), kind, /"a" is a file of the same name as a folder/);
      await refused(pythonArchive(kind, [{ name: 'a', data: 'x' }, { name: 'a/b', data: 'y' }]), kind, /"a\/b" lies inside "a", which is a file/);
      await refused(pythonArchive(kind, [{ name: 'a/b', data: 'y' }, { name: 'a', data: 'x' }]), kind, /"a" is a file of the same name as a folder/);
      await refused(pythonArchive(kind, [{ name: 'model.onnx', data: 'x' }, { name: 'model.onnx', data: 'y' }]), kind, /appears twice/);
      // A folder named twice (tar writes every level; some zips repeat them) is harmless.
      expect(await extracted(pythonArchive(kind, [{ name: 'd/', folder: true }, { name: 'd/', folder: true }, { name: 'd/m', data: 'm' }]), kind)).toEqual({ 'd/m': 'm' });
    }
  });

  it('refuses names the file system cannot take: a NUL byte, control characters, 5,000 characters', async () => {
    // tar headers end names at a NUL byte and Python's zipfile cuts them there, so the zip is
    // written byte by byte.
    const nul = fresh('nul.zip');
    fs.writeFileSync(nul, zipOf([{ name: 'x\u0000.onnx', data: Buffer.from('x') }]));
    await refused(nul, 'zip', /control character/);
    // (A zip without its UTF-8 flag names files in code page 437, where byte 0x0a is a symbol, "◙".)
    await refused(pythonArchive('tar', [{ name: 'line\nbreak.onnx', data: 'x' }]), 'tar', /control character/);
    for (const kind of ['tar', 'zip'] as const) {
      await refused(pythonArchive(kind, [{ name: `${'n'.repeat(5000)}.onnx`, data: 'x' }]), kind, /longer than 1024 bytes/);
      await refused(pythonArchive(kind, [{ name: `${'n'.repeat(300)}.onnx`, data: 'x' }]), kind, /name longer than 255 bytes/);
      // 255 bytes is the most a Linux file name may have: still fine.
      expect(Object.keys(await extracted(pythonArchive(kind, [{ name: `${'n'.repeat(250)}.onnx`, data: 'x' }]), kind))).toEqual([`${'n'.repeat(250)}.onnx`]);
    }
  });

  it('says why a client file name cannot be a path in the model folder', () => {
    expect(pathProblem('model.onnx')).toBeUndefined();
    expect(safeRelativePath('./weights\\w.bin')).toBe('weights/w.bin');
    expect(pathProblem('x\u0000.onnx')).toMatch(/control character/);
    expect(pathProblem('é'.repeat(128))).toMatch(/longer than 255 bytes/); // 256 bytes in UTF-8
    expect(pathProblem('..')).toMatch(/escapes/);
    expect(pathProblem('C:\\model.onnx')).toMatch(/absolute/);
    expect(pathProblem('.')).toMatch(/names no file/);
    expect(safeRelativePath('x\u0000.onnx')).toBeUndefined();
  });
});
