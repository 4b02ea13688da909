import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import yauzl from 'yauzl';
import { apiUrl, hubFetch, type HubParams } from '../http.ts';

export interface RunCrateParams extends HubParams {
  runId: string;
  /** The folder to unpack the crate into (created if missing). */
  directory: string;
}

/** Entries of a zip held in memory, as name → bytes. */
function unzip(zip: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true, validateEntrySizes: true }, (error, archive) => {
      if (error || !archive) return reject(error ?? new Error('not a zip'));
      const entries = new Map<string, Buffer>();
      archive.on('error', reject);
      archive.on('end', () => resolve(entries));
      archive.on('entry', (entry: yauzl.Entry) => {
        archive.openReadStream(entry, (streamError, stream) => {
          if (streamError || !stream) return reject(streamError ?? new Error(`cannot read ${entry.fileName}`));
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('error', reject);
          stream.on('end', () => {
            entries.set(entry.fileName, Buffer.concat(chunks));
            archive.readEntry();
          });
        });
      });
      archive.readEntry();
    });
  });
}

/**
 * A stored run's RO-Crate (`GET /api/v1/runs/{id}/crate`), unpacked into `directory`:
 * `ro-crate-metadata.json`, `inputs.json`, `parameters.json`, `output.json`, `provenance.json`.
 * Returns the paths written.
 */
export async function getRunCrate(params: RunCrateParams): Promise<string[]> {
  const response = await hubFetch(params, apiUrl(params, `/runs/${encodeURIComponent(params.runId)}/crate`), { headers: { accept: 'application/zip' } });
  const entries = await unzip(Buffer.from(await response.arrayBuffer()));
  await mkdir(params.directory, { recursive: true });
  const written: string[] = [];
  for (const [name, data] of entries) {
    // A crate of the hub holds plain files at its root; anything else is not written.
    if (name !== path.basename(name) || name.startsWith('.')) continue;
    const target = path.join(params.directory, name);
    await writeFile(target, data);
    written.push(target);
  }
  return written;
}
