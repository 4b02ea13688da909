/**
 * A stored run as an RO-Crate 1.1 (https://w3id.org/ro/crate/1.1) following the Process Run Crate
 * profile 0.5 (https://w3id.org/ro/wfrun/process/0.5): the run is a `CreateAction` whose
 * `instrument` is the servable version (a `SoftwareApplication`, its files and runtime beside it),
 * whose `object` is the inputs file and whose `result` is the output file. Attached crates are
 * directories or zips with `ro-crate-metadata.json` at the root, so the hub serves a zip; the
 * metadata document alone is there too (`?format=json`), its files then named by the hub's URLs.
 */
import { createHash } from 'node:crypto';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import type { StoredRun } from '../../schemas/ports/run-store.ts';
import { canonicalJsonText } from './provenance.ts';
import { zipArchive } from './zip-archive.ts';

export const RO_CRATE_1_1 = 'https://w3id.org/ro/crate/1.1';
export const PROCESS_RUN_CRATE = 'https://w3id.org/ro/wfrun/process/0.5';
const CONTEXT = [`${RO_CRATE_1_1}/context`, { sha256: 'https://schema.org/sha256' }];

export interface CrateFile {
  name: string;
  data: Buffer;
  /** The media type; JSON when not given. */
  encodingFormat?: string;
}

/** A batch run's data set and results files (batch-provenance.ts), in place of inputs.json and output.json. */
export interface BatchCrateFiles {
  dataset: CrateFile;
  results: CrateFile;
}

export interface RunCrate {
  metadata: Record<string, unknown>;
  files: CrateFile[];
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * `document`: the servable version the run used (for its title, creators and licence);
 * `hubUrl`: this hub's public URL (the servable's run URL, for replaying).
 */
export function buildRunCrate(run: StoredRun, document: PublishedMetadata | undefined, hubUrl: string, batch?: BatchCrateFiles): RunCrate {
  const record = run.record;
  const files: CrateFile[] = [
    batch?.dataset ?? { name: 'inputs.json', data: Buffer.from(canonicalJsonText(run.inputs)) },
    { name: 'parameters.json', data: Buffer.from(canonicalJsonText(run.parameters)) },
    batch?.results ?? { name: 'output.json', data: Buffer.from(canonicalJsonText(run.output)) },
    { name: 'provenance.json', data: Buffer.from(`${JSON.stringify(record, null, 2)}\n`) },
  ];
  const fileEntity = (file: CrateFile, description: string) => ({
    '@id': file.name,
    '@type': 'File',
    name: file.name,
    description,
    encodingFormat: file.encodingFormat ?? 'application/json',
    contentSize: String(file.data.length),
    sha256: sha256(file.data),
  });
  const base = hubUrl.replace(/\/+$/, '');
  const [owner, name] = record.servable.split('/') as [string, string];
  const servableId = `${base}/api/v1/servables/${owner}/${name}/versions/${record.version}`;
  const title = document?.datacite.titles[0]?.title ?? record.servable;
  const rights = document?.datacite.rightsList?.[0];
  const licenseId = rights?.rightsUri ?? '#license-not-stated';
  const endTime = new Date(Date.parse(record.started_at) + record.duration_ms).toISOString();
  const runId = `#run-${record.run_id}`;
  const creators = (document?.datacite.creators ?? []).map((creator, i) => ({
    '@id': creator.orcid ? (creator.orcid.startsWith('https://') ? creator.orcid : `https://orcid.org/${creator.orcid}`) : `#creator-${i + 1}`,
    '@type': creator.nameType === 'Organizational' ? 'Organization' : 'Person',
    name: creator.name,
  }));
  const modelFiles = record.files.map((file) => ({
    '@id': `${servableId}/download#${encodeURIComponent(file.path)}`,
    '@type': 'File',
    name: file.path,
    contentSize: String(file.size),
    sha256: file.sha256,
  }));
  const graph: Record<string, unknown>[] = [
    { '@id': 'ro-crate-metadata.json', '@type': 'CreativeWork', conformsTo: { '@id': RO_CRATE_1_1 }, about: { '@id': './' } },
    {
      '@id': './',
      '@type': 'Dataset',
      name: `Run ${record.run_id} of ${record.servable} version ${record.version}`,
      description: `The inputs, output and provenance of one run of "${title}" (${record.identifier}) on modelhub ${record.hub.version}, method ${record.method}.`,
      datePublished: run.stored_at,
      license: { '@id': licenseId },
      conformsTo: { '@id': PROCESS_RUN_CRATE },
      hasPart: files.map((file) => ({ '@id': file.name })),
      mentions: { '@id': runId },
    },
    { '@id': PROCESS_RUN_CRATE, '@type': 'CreativeWork', name: 'Process Run Crate', version: '0.5' },
    rights?.rightsUri
      ? { '@id': licenseId, '@type': 'CreativeWork', name: rights.rights }
      : { '@id': licenseId, '@type': 'CreativeWork', name: 'No licence stated', description: "The servable's publisher stated no licence for it or its outputs." },
    fileEntity(files[0]!, batch ? 'The data set the batch ran on, as uploaded (sha256 = inputs_sha256 of provenance.json).' : 'The inputs of the run, as canonical JSON (sha256 = inputs_sha256 of provenance.json).'),
    fileEntity(files[1]!, 'The parameters of the run.'),
    fileEntity(files[2]!, batch ? 'The results of the batch, one NDJSON line per record (sha256 = outputs_sha256 of provenance.json).' : 'The output of the run, as canonical JSON (sha256 = outputs_sha256 of provenance.json).'),
    fileEntity(files[3]!, 'The provenance record the hub returned with the run.'),
    {
      '@id': runId,
      '@type': 'CreateAction',
      name: `Run of ${record.servable}@${record.version}`,
      identifier: record.run_id,
      instrument: { '@id': servableId },
      object: [{ '@id': files[0]!.name }, { '@id': 'parameters.json' }],
      result: [{ '@id': files[2]!.name }],
      startTime: record.started_at,
      endTime,
      actionStatus: { '@id': 'http://schema.org/CompletedActionStatus' },
    },
    {
      '@id': servableId,
      '@type': 'SoftwareApplication',
      name: title,
      identifier: record.identifier,
      softwareVersion: String(record.version),
      url: `${servableId}/run`,
      ...(creators.length > 0 ? { author: creators.map((c) => ({ '@id': c['@id'] })) } : {}),
      hasPart: modelFiles.map((file) => ({ '@id': file['@id'] })),
      softwareRequirements: { '@id': '#runtime' },
    },
    ...creators,
    ...modelFiles,
    {
      '@id': '#runtime',
      '@type': 'SoftwareApplication',
      name: record.runtime.name,
      softwareVersion: record.runtime.version,
      description: `The runtime that served the ${record.runtime.type} servable${record.runtime.image ? ` (image ${record.runtime.image})` : ''}`,
    },
  ];
  return { metadata: { '@context': CONTEXT, '@graph': graph }, files };
}

/** The crate as a zip: `ro-crate-metadata.json` and the files it describes at the root. */
export function runCrateZip(crate: RunCrate, modified: Date): Buffer {
  const metadata = Buffer.from(`${JSON.stringify(crate.metadata, null, 2)}\n`);
  return zipArchive([{ name: 'ro-crate-metadata.json', data: metadata }, ...crate.files], modified);
}
