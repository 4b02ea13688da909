/**
 * DLHub servable documents (dlhub_schemas' `servable` JSON: `datacite`, `dlhub` and `servable`
 * blocks, as DLHub SDK's `to_dict()` writes them) turned into this hub's metadata, for
 * `modelhub import-dlhub doc.json [files...]`. The Python client has the same mapping
 * (clients/python/src/modelhub/dlhub/importer.py); test/unit/dlhub-import.test.ts checks that
 * both give the same document for the same DLHub documents. What maps and what does not is
 * listed there and in docs/python.md.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  RELATED_IDENTIFIER_TYPES,
  RELATION_TYPES,
  type ArgumentType,
  type Creator,
  type DataciteBlock,
  type HubBlock,
  type Method,
  type RelatedIdentifier,
  type ServableBlock,
} from '../../schemas/metadata.ts';
import { MetadataServable } from './metadata-servable.ts';

/** DLHub's shims (its runtime adapters) and the servable types they become here. */
export const DLHUB_SHIMS = {
  'sklearn.ScikitLearnServable': 'sklearn',
  'python.PythonStaticMethodServable': 'python',
  'python.PythonClassMethodServable': 'python',
  'torch.TorchServable': 'torch',
  'keras.KerasServable': 'keras',
  'tensorflow.TensorFlowServable': 'tf-savedmodel',
} as const;

const PLACEHOLDER_DOI = '10.YET/UNASSIGNED';
export const DLHUB_DOCUMENT_FILE = 'dlhub.json';
export const CLASS_MODULE_FILE = 'dlhub_class_method.py';
const ORCID = /\d{4}-\d{4}-\d{4}-\d{3}[\dX]$/;
const DTYPES = new Set(['bool', 'uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'int32', 'int64', 'float16', 'float32', 'float64', 'string']);

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const str = (value: unknown): string | undefined => (typeof value === 'string' && value.length > 0 ? value : undefined);

/** A DLHub feature with no equivalent here (an unknown shim), named in the message. */
export class DlhubFeatureError extends Error {
  override readonly name = 'DlhubFeatureError';
}

export const slugName = (value: string) => value.trim().toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-._]+|[-._]+$/g, '') || 'servable';
export const slugOwner = (value: string) => value.trim().toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 39) || 'dlhub';

/** A DLHub argument type (`float`, `python object`, an ndarray's `item_type`) in the hub's schema. */
export function convertArgumentType(value: unknown): ArgumentType {
  if (typeof value === 'string') return convertArgumentType({ type: value });
  if (!isObject(value) || typeof value.type !== 'string') return { type: 'any' };
  const aliases: Record<string, string> = { float: 'number', int: 'integer', bool: 'boolean', str: 'string', 'python object': 'any' };
  const kind = aliases[value.type] ?? value.type;
  const description = str(value.description);
  let result: ArgumentType;
  if (kind === 'ndarray') {
    const item = isObject(value.item_type) ? value.item_type.type : value.item_type;
    const itemDtypes: Record<string, string> = { float: 'float64', integer: 'int64', int: 'int64', boolean: 'bool', bool: 'bool', string: 'string', str: 'string' };
    const dtype =
      str(value.dtype) ?? (typeof item === 'string' ? (itemDtypes[item] ?? (DTYPES.has(item) ? item : 'float64')) : 'float64');
    const shape = Array.isArray(value.shape) ? (value.shape as (number | null)[]) : [null];
    result = { type: 'ndarray', shape, dtype } as ArgumentType;
  } else if (kind === 'list') {
    result = { type: 'list', item_type: convertArgumentType(value.item_type ?? 'any') };
  } else if (kind === 'dict') {
    const properties = isObject(value.properties) ? value.properties : {};
    result = { type: 'dict', properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, convertArgumentType(v)])) };
  } else if (kind === 'tuple') {
    result = { type: 'tuple', element_types: asArray(value.element_types).map(convertArgumentType) };
  } else if (['number', 'integer', 'string', 'boolean', 'file', 'any'].includes(kind)) {
    result = { type: kind } as ArgumentType;
  } else {
    throw new TypeError(`unknown DLHub argument type ${JSON.stringify(value.type)}`);
  }
  return description ? ({ ...result, description } as ArgumentType) : result;
}

function convertCreator(entry: unknown): Creator | undefined {
  const fields: Json = typeof entry === 'string' ? { creatorName: entry } : isObject(entry) ? entry : {};
  const family = str(fields.familyName);
  const name = str(fields.creatorName) ?? str(fields.name) ?? (family ? `${family}, ${str(fields.givenName) ?? ''}`.replace(/[, ]+$/, '') : undefined);
  if (!name) return undefined;
  const creator: Creator = { name, nameType: fields.nameType === 'Organizational' ? 'Organizational' : 'Personal' };
  const [familyPart, ...rest] = name.split(',');
  const given = rest.join(',').trim();
  if (family || given) {
    creator.familyName = family ?? familyPart!.trim();
    creator.givenName = str(fields.givenName) ?? given;
  }
  const affiliations = (typeof (fields.affiliations ?? fields.affiliation) === 'string' ? [fields.affiliations ?? fields.affiliation] : asArray(fields.affiliations ?? fields.affiliation))
    .filter((a): a is string => typeof a === 'string' && a.trim().length > 0);
  if (affiliations.length > 0) creator.affiliation = affiliations;
  for (const identifier of asArray(fields.nameIdentifiers)) {
    if (!isObject(identifier)) continue;
    const match = ORCID.exec(String(identifier.nameIdentifier ?? ''));
    if (String(identifier.nameIdentifierScheme ?? '').toUpperCase() === 'ORCID' && match) {
      creator.orcid = match[0];
      creator.nameIdentifiers = [{ nameIdentifier: `https://orcid.org/${match[0]}`, nameIdentifierScheme: 'ORCID', schemeUri: 'https://orcid.org' }];
    }
  }
  return creator;
}

function convertDatacite(block: Json, warnings: string[]): Partial<DataciteBlock> {
  const result: Partial<DataciteBlock> = { resourceType: { resourceTypeGeneral: 'Model' } };
  const titles = asArray(block.titles).filter(isObject).filter((t) => str(t.title)).map((t) => ({ title: t.title as string }));
  if (titles.length > 0) result.titles = titles;
  const creators = asArray(block.creators).map(convertCreator).filter((c): c is Creator => c !== undefined);
  if (creators.length > 0) result.creators = creators;
  const year = String(block.publicationYear ?? '');
  if (/^\d{4}$/.test(year)) result.publicationYear = year;
  const kinds = ['Abstract', 'Methods', 'TechnicalInfo', 'Other'] as const;
  const descriptions = asArray(block.descriptions).filter(isObject).filter((d) => str(d.description)).map((d) => ({
    description: d.description as string,
    descriptionType: d.descriptionType === undefined ? ('Abstract' as const) : (kinds as readonly unknown[]).includes(d.descriptionType) ? (d.descriptionType as (typeof kinds)[number]) : ('Other' as const),
  }));
  if (descriptions.length > 0) result.descriptions = descriptions;
  const related: RelatedIdentifier[] = [];
  for (const entry of asArray(block.relatedIdentifiers).filter(isObject)) {
    if (
      (RELATED_IDENTIFIER_TYPES as readonly unknown[]).includes(entry.relatedIdentifierType) &&
      (RELATION_TYPES as readonly unknown[]).includes(entry.relationType) &&
      str(entry.relatedIdentifier)
    ) {
      related.push({
        relatedIdentifier: entry.relatedIdentifier as string,
        relatedIdentifierType: entry.relatedIdentifierType as RelatedIdentifier['relatedIdentifierType'],
        relationType: entry.relationType as RelatedIdentifier['relationType'],
      });
    } else {
      warnings.push(`dropped the related identifier ${JSON.stringify(entry)}: its type or relation is not DataCite's`);
    }
  }
  const rights = asArray(block.rightsList).filter(isObject).filter((r) => str(r.rights)).map((r) => ({
    rights: r.rights as string,
    ...(str(r.rightsUri) ? { rightsUri: r.rightsUri as string } : {}),
  }));
  if (rights.length > 0) result.rightsList = rights;
  const funding = asArray(block.fundingReferences).filter(isObject).filter((f) => str(f.funderName)).map((f) =>
    Object.fromEntries(['funderName', 'funderIdentifier', 'awardNumber', 'awardTitle'].filter((k) => str(f[k])).map((k) => [k, f[k]])),
  ) as NonNullable<DataciteBlock['fundingReferences']>;
  if (funding.length > 0) result.fundingReferences = funding;
  const subjects = asArray(block.subjects).filter(isObject).filter((s) => str(s.subject)).map((s) => ({ subject: s.subject as string }));
  if (subjects.length > 0) result.subjects = subjects;
  const identifier = isObject(block.identifier) ? str(block.identifier.identifier) : undefined;
  // A DOI DLHub minted: this hub mints its own, and keeps DLHub's as the original form.
  if (identifier && identifier !== PLACEHOLDER_DOI) related.push({ relatedIdentifier: identifier, relatedIdentifierType: 'DOI', relationType: 'IsVariantFormOf' });
  if (related.length > 0) result.relatedIdentifiers = related;
  return result;
}

function convertMethod(method: Json): Method {
  const result: Method = { input: convertArgumentType(method.input), output: convertArgumentType(method.output) };
  if (isObject(method.parameters) && Object.keys(method.parameters).length > 0) result.parameters = structuredClone(method.parameters);
  if (str(method.description)) result.description = method.description as string;
  return result;
}

/** DLHub's `files` block as [role, path] pairs: `{"model": p, "pickle": p, "other": [p, ...]}`. */
function fileEntries(files: unknown): [string, string][] {
  if (Array.isArray(files)) return files.filter((p): p is string => typeof p === 'string').map((p) => ['other', p]);
  if (!isObject(files)) return [];
  return Object.entries(files).flatMap(([role, value]) =>
    (Array.isArray(value) ? value : [value]).filter((p): p is string => typeof p === 'string' && p.length > 0).map((p): [string, string] => [role, p]),
  );
}

export interface ConvertedDocument {
  metadata: { datacite: Partial<DataciteBlock>; hub: Partial<HubBlock>; servable: ServableBlock };
  /** The document's files as [role, path], paths as DLHub wrote them. */
  files: [string, string][];
  /** PEP 508 lines for requirements.txt: unpinned, DLHub's recorded version as a comment. */
  requirements: string[];
  /** What did not carry over, for a person to read. */
  warnings: string[];
}

/** The hub's metadata for a DLHub servable document, without touching files. */
export function convertDlhubDocument(document: unknown, options: { owner?: string } = {}): ConvertedDocument {
  if (!isObject(document) || !isObject(document.servable)) throw new TypeError('not a DLHub servable document: it has no "servable" block');
  const warnings: string[] = [];
  const dlhub = isObject(document.dlhub) ? document.dlhub : {};
  const servable = document.servable;
  const shim = servable.shim;
  if (typeof shim !== 'string' || !(shim in DLHUB_SHIMS)) {
    throw new DlhubFeatureError(`DLHub servables of shim ${JSON.stringify(shim)} have no equivalent on modelhub (supported: ${Object.keys(DLHUB_SHIMS).join(', ')})`);
  }
  const kind = DLHUB_SHIMS[shim as keyof typeof DLHUB_SHIMS];
  const files = fileEntries(dlhub.files ?? servable.files);
  const datacite = convertDatacite(isObject(document.datacite) ? document.datacite : {}, warnings);
  const hub: Partial<HubBlock> = { type: 'servable' };
  const shorthand = str(dlhub.shorthand_name) ?? '';
  const name = str(dlhub.name) ?? shorthand.split('/').pop();
  if (name) {
    hub.name = slugName(name).slice(0, 64);
    if (hub.name !== name) warnings.push(`renamed ${JSON.stringify(name)} to ${JSON.stringify(hub.name)} (names here are lower-case letters, digits, - . _)`);
  }
  const owner = options.owner ?? str(dlhub.owner) ?? (shorthand.split('/')[0] || undefined);
  if (owner) hub.owner = slugOwner(owner);
  const domains = asArray(dlhub.domains).filter((d): d is string => typeof d === 'string' && d.trim().length > 0);
  if (domains.length > 0) {
    hub.domains = domains;
    datacite.subjects ??= domains.map((subject) => ({ subject }));
  }
  const visibleTo = asArray(dlhub.visible_to).length > 0 ? asArray(dlhub.visible_to) : ['public'];
  if (visibleTo.includes('public')) {
    hub.visibility = 'public';
  } else {
    hub.visibility = 'private';
    warnings.push(`visible_to ${JSON.stringify(visibleTo)} names Globus identities or groups, which do not exist here: the servable is private to its owner; share it with this hub's users and groups`);
  }
  const methods = isObject(servable.methods) ? servable.methods : {};
  const run = isObject(methods.run) ? methods.run : {};
  const details = isObject(run.method_details) ? run.method_details : {};
  const dlhubOptions = isObject(servable.options) ? servable.options : {};
  const block: ServableBlock = { type: kind, methods: { run: convertMethod(run) } };
  for (const [methodName, method] of Object.entries(methods)) {
    if (methodName === 'run' || !isObject(method) || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(methodName)) continue;
    block.methods[methodName] = convertMethod(method);
    const pythonName = isObject(method.method_details) ? str(method.method_details.method_name) : undefined;
    if (pythonName) block.methods[methodName]!.method_details = { method_name: pythonName };
  }
  const modelFiles = files.filter(([role]) => role === 'model').map(([, p]) => p);
  if (kind === 'sklearn') {
    // DLHub's shim runs predict_proba through its private `_predict_proba` for classifiers.
    block.methods.run.method_details = { method_name: String(details.method_name ?? 'predict').replace(/^_+/, '') };
    const serialization = dlhubOptions.serialization_method;
    block.runtime = serialization === 'pickle' || serialization === 'joblib' ? { serialization } : {};
    if (Array.isArray(dlhubOptions.classes)) {
      const output = block.methods.run.output;
      output.description = `${output.description ?? ''} (classes: ${dlhubOptions.classes.map(String).join(', ')})`.trim();
    }
  } else if (shim === 'python.PythonStaticMethodServable') {
    if (!str(details.module) || !str(details.method_name)) throw new TypeError('a PythonStaticMethodServable needs method_details.module and method_name');
    block.python = { module: details.module as string, function: details.method_name as string };
  } else if (kind === 'python') {
    // The name is written into the wrapper module's source: it must be a plain identifier.
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(details.method_name ?? ''))) {
      throw new TypeError('a PythonClassMethodServable needs method_details.method_name, a Python identifier');
    }
    block.python = { module: CLASS_MODULE_FILE, class_name: 'DLHubClassMethod', method: 'run' };
  }
  if (kind === 'python') {
    const pythonOptions = { ...(details.autobatch ? { autobatch: true } : {}), ...(details.unpack ? { unpack_inputs: true } : {}) };
    if (Object.keys(pythonOptions).length > 0) block.options = pythonOptions;
  }
  if ((kind === 'sklearn' || kind === 'torch' || kind === 'keras') && modelFiles.length > 0) block.model_file = path.basename(modelFiles[0]!);
  if (kind === 'torch') warnings.push('DLHub stored torch models with torch.save; the hub runs TorchScript only (torch.jit.script or torch.jit.trace, then .save)');
  const dependencies = isObject(servable.dependencies) && isObject(servable.dependencies.python) ? servable.dependencies.python : {};
  // Unpinned: DLHub recorded the versions of its day (scikit-learn 0.19), which a hub that
  // installs requirements could not find; the recorded version stays as a comment.
  const requirements = Object.keys(dependencies)
    .sort()
    .map((pkg) => {
      const version = dependencies[pkg];
      return typeof version === 'string' && version && version !== 'latest' && version !== 'detect' ? `${pkg}  # DLHub recorded ${version}` : pkg;
    });
  return { metadata: { datacite, hub, servable: block }, files, requirements, warnings };
}

/** DLHub's PythonClassMethodServable: unpickle the object, call its method (as the Python client writes it). */
export function classMethodModule(method: string, pickleFile: string): string {
  return `"""Written by modelhub's DLHub importer: runs ${method} of the object pickled in ${pickleFile}."""

import os
import pickle


class DLHubClassMethod:
    def __init__(self):
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), ${JSON.stringify(pickleFile)}), 'rb') as handle:
            self.target = pickle.load(handle)

    def run(self, *args, **kwargs):
        return self.target.${method}(*args, **kwargs)
`;
}

export interface DlhubImport {
  model: MetadataServable;
  warnings: string[];
  /** Removes the files written for the import (dlhub.json, requirements.txt, the wrapper module). */
  cleanup(): void;
}

/**
 * A servable ready to publish from a DLHub document file. Each of the document's files is matched
 * with a given file of the same base name, else looked for at its path (relative to the
 * document's folder). `authors` replace the document's creators (DLHub documents written before
 * publishing often have none; the hub requires one).
 */
export function importDlhubDocument(
  documentPath: string,
  files: string[] = [],
  options: { owner?: string; authors?: string[] } = {},
): DlhubImport {
  const document = JSON.parse(readFileSync(documentPath, 'utf8')) as unknown;
  const converted = convertDlhubDocument(document, options.owner ? { owner: options.owner } : {});
  const baseDir = path.dirname(path.resolve(documentPath));
  for (const file of files) if (!existsSync(file)) throw new TypeError(`${file} does not exist`);
  const given = new Map(files.map((f) => [path.basename(f), path.resolve(f)]));
  const model = MetadataServable.fromDocument(converted.metadata);
  if (options.authors && options.authors.length > 0) model.setAuthors(options.authors);
  const used = new Set<string>();
  for (const [role, file] of converted.files) {
    const base = path.basename(file.replace(/\/+$/, ''));
    const candidate = path.isAbsolute(file) ? file : path.join(baseDir, file);
    const local = given.get(base) ?? (existsSync(candidate) ? path.resolve(candidate) : undefined);
    if (!local) throw new TypeError(`the document's ${role} file ${file} was not given and is not at ${candidate}: pass it, e.g. modelhub import-dlhub ${documentPath} ${base}`);
    used.add(local);
    if (statSync(local).isDirectory()) model.addDirectory(local, base);
    else model.addFile(local, base);
  }
  for (const [base, local] of given) if (!used.has(local)) model.addFile(local, base);
  const scratch = mkdtempSync(path.join(tmpdir(), 'modelhub-dlhub-'));
  const write = (name: string, text: string) => {
    writeFileSync(path.join(scratch, name), text);
    model.addFile(path.join(scratch, name), name);
  };
  write(DLHUB_DOCUMENT_FILE, `${JSON.stringify(document, null, 2)}\n`);
  if (converted.requirements.length > 0) write('requirements.txt', converted.requirements.map((r) => `${r}\n`).join(''));
  const servable = (document as { servable: Json }).servable;
  if (servable.shim === 'python.PythonClassMethodServable') {
    const pickles = converted.files.filter(([role]) => role === 'pickle').map(([, p]) => path.basename(p));
    if (pickles.length === 0) throw new TypeError('a PythonClassMethodServable needs its pickle file (dlhub.files.pickle)');
    const method = String(((servable.methods as Json).run as Json & { method_details: Json }).method_details.method_name);
    write(CLASS_MODULE_FILE, classMethodModule(method, pickles[0]!));
  }
  return { model, warnings: converted.warnings, cleanup: () => rmSync(scratch, { recursive: true, force: true }) };
}
