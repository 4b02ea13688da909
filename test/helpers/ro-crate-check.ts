/**
 * A structural check of an RO-Crate 1.1 metadata document, written from the specification
 * (https://w3id.org/ro/crate/1.1: "RO-Crate Metadata File Descriptor", "Root Data Entity", "Data
 * Entities", "Flattened JSON-LD") and the Process Run Crate profile 0.5. It returns the problems
 * found; an empty list means the document meets every rule checked here.
 */
import fs from 'node:fs';
import path from 'node:path';

type Entity = Record<string, unknown> & { '@id': string; '@type': string | string[] };

const types = (entity: Entity): string[] => (Array.isArray(entity['@type']) ? entity['@type'] : [entity['@type']]);
const refs = (value: unknown): string[] =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value]).flatMap((item) =>
    typeof item === 'object' && item !== null && typeof (item as { '@id'?: unknown })['@id'] === 'string' ? [(item as { '@id': string })['@id']] : [],
  );

export function checkRoCrate(metadata: unknown, crateDir?: string, options: { processRun?: boolean } = {}): string[] {
  const problems: string[] = [];
  if (typeof metadata !== 'object' || metadata === null) return ['the metadata document is not a JSON object'];
  const document = metadata as { '@context'?: unknown; '@graph'?: unknown };
  // "The RO-Crate JSON-LD MUST use the RO-Crate JSON-LD Context https://w3id.org/ro/crate/1.1/context by reference."
  const contexts = Array.isArray(document['@context']) ? document['@context'] : [document['@context']];
  if (!contexts.includes('https://w3id.org/ro/crate/1.1/context')) problems.push('@context does not reference https://w3id.org/ro/crate/1.1/context');
  // Flattened: one @graph array of entities, each with @id and @type.
  if (!Array.isArray(document['@graph'])) return [...problems, '@graph is not an array'];
  const graph = document['@graph'] as unknown[];
  const byId = new Map<string, Entity>();
  for (const item of graph) {
    const entity = item as Partial<Entity>;
    if (typeof entity !== 'object' || entity === null || typeof entity['@id'] !== 'string') {
      problems.push(`an entity has no @id: ${JSON.stringify(item).slice(0, 80)}`);
      continue;
    }
    if (entity['@type'] === undefined) problems.push(`${entity['@id']} has no @type`);
    if (byId.has(entity['@id'])) problems.push(`${entity['@id']} appears twice in @graph`);
    byId.set(entity['@id'], entity as Entity);
    // Flattened JSON-LD: properties refer to other entities by {"@id"} only, never nest them.
    for (const [key, value] of Object.entries(entity)) {
      for (const nested of Array.isArray(value) ? value : [value]) {
        if (typeof nested === 'object' && nested !== null && '@id' in nested && Object.keys(nested).length > 1) problems.push(`${entity['@id']}.${key} nests an entity instead of referring to it`);
      }
    }
  }
  // The RO-Crate Metadata File Descriptor.
  const descriptor = byId.get('ro-crate-metadata.json');
  if (!descriptor) return [...problems, 'no metadata descriptor (@id ro-crate-metadata.json)'];
  if (!types(descriptor).includes('CreativeWork')) problems.push('the metadata descriptor is not a CreativeWork');
  const conformsTo = refs(descriptor.conformsTo);
  if (!conformsTo.some((id) => id.startsWith('https://w3id.org/ro/crate/1.1'))) problems.push('the metadata descriptor does not conform to https://w3id.org/ro/crate/1.1');
  const about = refs(descriptor.about);
  if (about.length !== 1) return [...problems, 'the metadata descriptor is not about exactly one root data entity'];
  // The Root Data Entity: a Dataset whose @id ends in "/" with name, description, datePublished, license.
  const root = byId.get(about[0]!);
  if (!root) return [...problems, `the root data entity ${about[0]} is not in @graph`];
  if (!root['@id'].endsWith('/')) problems.push('the root data entity @id does not end with /');
  if (!types(root).includes('Dataset')) problems.push('the root data entity is not a Dataset');
  for (const property of ['name', 'description', 'datePublished', 'license']) {
    if (root[property] === undefined || root[property] === '') problems.push(`the root data entity has no ${property}`);
  }
  if (typeof root.datePublished === 'string' && !/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(root.datePublished)) problems.push('datePublished is not ISO 8601');
  // Every local reference resolves to an entity in the graph.
  for (const entity of byId.values()) {
    for (const [key, value] of Object.entries(entity)) {
      if (key === 'conformsTo') continue; // profiles and specifications are named by URI
      for (const id of refs(value)) {
        const local = !/^[a-z][a-z0-9+.-]*:/i.test(id);
        if (local && !byId.has(id)) problems.push(`${entity['@id']}.${key} refers to ${id}, which is not in @graph`);
      }
    }
  }
  // Data entities: Files with a relative @id must be in the crate and reachable from the root by hasPart.
  const parts = new Set(refs(root.hasPart));
  for (const entity of byId.values()) {
    if (!types(entity).includes('File') || /^[a-z][a-z0-9+.-]*:/i.test(entity['@id']) || entity['@id'].startsWith('#')) continue;
    if (!parts.has(entity['@id'])) problems.push(`the file ${entity['@id']} is not in the root's hasPart`);
    if (crateDir && !fs.existsSync(path.join(crateDir, entity['@id']))) problems.push(`the file ${entity['@id']} is not in the crate`);
  }
  if (options.processRun) {
    // Process Run Crate 0.5: the root conforms to the profile and mentions a CreateAction whose
    // instrument is a SoftwareApplication, with object (inputs) and result (outputs).
    if (!refs(root.conformsTo).some((id) => id.startsWith('https://w3id.org/ro/wfrun/process/'))) problems.push('the root does not conform to the Process Run Crate profile');
    const actions = refs(root.mentions).map((id) => byId.get(id)).filter((e): e is Entity => e !== undefined && types(e).includes('CreateAction'));
    if (actions.length === 0) problems.push('the root mentions no CreateAction');
    for (const action of actions) {
      const instrument = byId.get(refs(action.instrument)[0] ?? '');
      if (!instrument || !types(instrument).includes('SoftwareApplication')) problems.push(`${action['@id']} has no SoftwareApplication instrument`);
      if (refs(action.object).length === 0) problems.push(`${action['@id']} has no object`);
      if (refs(action.result).length === 0) problems.push(`${action['@id']} has no result`);
    }
  }
  return problems;
}
