/**
 * The builder every model class extends (DLHub's `BaseServableModel`, in TypeScript): chainable
 * setters for the DataCite record, the hub block and the run options, the list of files to upload,
 * and `toMetadata()` that checks the whole document against the schema before anything is sent.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type {
  ArgumentType,
  BatchingOptions,
  Creator,
  DataciteBlock,
  HubBlock,
  RelatedIdentifier,
  ServableBlock,
  ServableMetadata,
} from '../../schemas/metadata.ts';
import type { Static } from '@sinclair/typebox';
import { assertValidMetadata } from '../validate-metadata.ts';
import { checkRequirement } from './requirements.ts';

export interface ServableFile {
  /** Where the file is on this machine. */
  localPath: string;
  /** Its path inside the servable, posix separators (`model.onnx`, `weights/group1.bin`). */
  path: string;
}

export type Batching = Static<typeof BatchingOptions>;
export type RelatedIdentifierType = RelatedIdentifier['relatedIdentifierType'];
export type RelationType = RelatedIdentifier['relationType'];
export type FundingReference = NonNullable<DataciteBlock['fundingReferences']>[number];
export type Visibility = NonNullable<HubBlock['visibility']>;

/** A metadata document that has not been checked yet; `toMetadata()` checks it. */
export interface MetadataDraft {
  datacite: Partial<DataciteBlock>;
  hub: Partial<HubBlock>;
  servable: ServableBlock;
}

function toCreator(author: string, affiliations?: string[], orcid?: string): Creator {
  const [family, ...rest] = author.split(',');
  const given = rest.join(',').trim();
  const creator: Creator = { name: author.trim(), nameType: 'Personal' };
  if (given) {
    creator.familyName = family!.trim();
    creator.givenName = given;
  }
  if (affiliations && affiliations.length > 0) creator.affiliation = affiliations;
  if (orcid) {
    creator.orcid = orcid;
    const bare = orcid.replace(/^https:\/\/orcid\.org\//, '');
    creator.nameIdentifiers = [
      { nameIdentifier: `https://orcid.org/${bare}`, nameIdentifierScheme: 'ORCID', schemeUri: 'https://orcid.org' },
    ];
  }
  return creator;
}

const toPosix = (p: string) => p.split(path.sep).join('/');

export abstract class ServableDescription {
  protected datacite: Partial<DataciteBlock> = { resourceType: { resourceTypeGeneral: 'Model' } };
  protected hub: Partial<HubBlock> = { type: 'servable' };
  protected servable: ServableBlock;
  private readonly fileList: ServableFile[] = [];

  protected constructor(servable: ServableBlock) {
    this.servable = structuredClone(servable);
  }

  setTitle(title: string): this {
    this.datacite.titles = [{ title }];
    return this;
  }

  /** `name`, or `owner/name` to set both. */
  setName(name: string): this {
    const slash = name.indexOf('/');
    if (slash >= 0) {
      this.hub.owner = name.slice(0, slash);
      this.hub.name = name.slice(slash + 1);
    } else {
      this.hub.name = name;
    }
    return this;
  }

  setOwner(owner: string): this {
    this.hub.owner = owner;
    return this;
  }

  /**
   * Authors as DataCite writes them, `Family, Given`; `affiliations[i]` and `orcids[i]` belong to
   * `authors[i]`.
   */
  setAuthors(authors: string[], affiliations?: string[][], orcids?: (string | undefined)[]): this {
    this.datacite.creators = authors.map((author, i) => toCreator(author, affiliations?.[i], orcids?.[i]));
    return this;
  }

  /** Scientific domains (`materials science`, `genomics` ...), searchable with `matchDomains`. */
  setDomains(domains: string[]): this {
    this.hub.domains = [...domains];
    this.datacite.subjects = domains.map((subject) => ({ subject }));
    return this;
  }

  setDescription(description: string, descriptionType: 'Abstract' | 'Methods' | 'TechnicalInfo' | 'Other' = 'Abstract'): this {
    const others = (this.datacite.descriptions ?? []).filter((d) => d.descriptionType !== descriptionType);
    this.datacite.descriptions = [...others, { description, descriptionType }];
    return this;
  }

  addRelatedIdentifier(
    identifier: string,
    identifierType: RelatedIdentifierType = 'DOI',
    relationType: RelationType = 'IsDescribedBy',
  ): this {
    this.datacite.relatedIdentifiers = [
      ...(this.datacite.relatedIdentifiers ?? []),
      { relatedIdentifier: identifier, relatedIdentifierType: identifierType, relationType },
    ];
    return this;
  }

  /** A license by name or SPDX id (`Apache-2.0`), with its URL if known. */
  setLicense(rights: string, rightsUri?: string): this {
    this.datacite.rightsList = [
      { rights, ...(rightsUri ? { rightsUri } : {}), ...(/^[A-Za-z0-9.+-]+$/.test(rights) ? { rightsIdentifier: rights } : {}) },
    ];
    return this;
  }

  addFunding(funding: FundingReference): this {
    this.datacite.fundingReferences = [...(this.datacite.fundingReferences ?? []), { ...funding }];
    return this;
  }

  setVisibility(visibility: Visibility, sharedWith?: { users?: string[]; groups?: string[] }): this {
    this.hub.visibility = visibility;
    if (sharedWith) this.hub.shared_with = sharedWith;
    return this;
  }

  setPublicationYear(year: number | string): this {
    this.datacite.publicationYear = String(year);
    return this;
  }

  /** Describe the input of `run`; `type` replaces the declared argument type when given. */
  setInputDescription(description: string, type?: ArgumentType): this {
    const run = this.servable.methods.run;
    run.input = { ...(type ?? run.input), description } as ArgumentType;
    return this;
  }

  setOutputDescription(description: string, type?: ArgumentType): this {
    const run = this.servable.methods.run;
    run.output = { ...(type ?? run.output), description } as ArgumentType;
    return this;
  }

  setMethodDescription(description: string): this {
    this.servable.methods.run.description = description;
    return this;
  }

  /** Server-side dynamic batching: requests that arrive together run as one batch. */
  setBatching(options: Batching): this {
    this.servable.options = { ...this.servable.options, batching: { enabled: true, ...options } };
    return this;
  }

  /** Whether the same inputs always give the same output (lets the hub cache results). */
  setDeterministic(deterministic: boolean): this {
    this.servable.options = { ...this.servable.options, deterministic };
    return this;
  }

  /**
   * The Python requirements (PEP 508) the hub installs into the servable's environment, replacing
   * any set before; an empty list declares none.
   */
  setRequirements(requirements: string[]): this {
    const python = [...new Set(requirements.map((r) => checkRequirement(r)))];
    const { python: _old, ...rest } = this.servable.environment ?? {};
    const environment = { ...rest, ...(python.length > 0 ? { python } : {}) };
    if (Object.keys(environment).length > 0) this.servable.environment = environment;
    else delete this.servable.environment;
    return this;
  }

  /** One more Python requirement, e.g. `addRequirement('scikit-learn==1.2.1')`. */
  addRequirement(requirement: string): this {
    return this.setRequirements([...(this.servable.environment?.python ?? []), requirement]);
  }

  /** The declared Python requirements. */
  requirements(): string[] {
    return [...(this.servable.environment?.python ?? [])];
  }

  /** Which of the files the runtime loads (`model.onnx`, `model.json`), when there are several. */
  setModelFile(pathInServable: string): this {
    this.servable.model_file = pathInServable;
    return this;
  }

  /** Add a file; it lands at `pathInServable` (its base name by default). */
  addFile(localPath: string, pathInServable?: string): this {
    const target = toPosix(pathInServable ?? path.basename(localPath)).replace(/^\/+/, '');
    if (!target || target.split('/').some((part) => part === '..' || part === '')) {
      throw new TypeError(`"${pathInServable}" is not a relative path inside the servable`);
    }
    const existing = this.fileList.findIndex((f) => f.path === target);
    const entry = { localPath: path.resolve(localPath), path: target };
    if (existing >= 0) this.fileList[existing] = entry;
    else this.fileList.push(entry);
    return this;
  }

  /** Add every file under `localDir`, keeping the folder layout under `prefix`. */
  addDirectory(localDir: string, prefix = '', options: { exclude?: (relativePath: string) => boolean } = {}): this {
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const full = path.join(dir, entry.name);
        const relative = toPosix(path.relative(localDir, full));
        if (options.exclude?.(relative)) continue;
        if (entry.isDirectory()) walk(full);
        else if (entry.isFile() || (entry.isSymbolicLink() && statSync(full).isFile())) {
          this.addFile(full, prefix ? `${prefix.replace(/\/+$/, '')}/${relative}` : relative);
        }
      }
    };
    walk(localDir);
    return this;
  }

  files(): ServableFile[] {
    return this.fileList.map((f) => ({ ...f }));
  }

  /** The document as it stands, unchecked (what `modelhub init` writes as a template). */
  draftMetadata(): MetadataDraft {
    return structuredClone({ datacite: this.datacite, hub: this.hub, servable: this.servable });
  }

  /** The complete document; throws MetadataValidationError listing every failing path. */
  toMetadata(): ServableMetadata {
    const document = this.draftMetadata();
    assertValidMetadata(document);
    return document;
  }
}
