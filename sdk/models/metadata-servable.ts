/**
 * A servable described by a metadata document someone wrote (a `modelhub.json` from
 * `modelhub init`), for any runtime: the hub inspects the files and fills in what it can.
 */
import type { ServableBlock, ServableMetadata } from '../../schemas/metadata.ts';
import { MetadataValidationError, type MetadataProblem } from '../errors.ts';
import { metadataProblems } from '../validate-metadata.ts';
import { ServableDescription, type MetadataDraft } from './servable-description.ts';

export const AUTHOR_PLACEHOLDER = 'Family, Given';

/** Template values left as `modelhub init` wrote them: strings starting `TODO`, the example author. */
export function findPlaceholders(value: unknown, pointer = ''): MetadataProblem[] {
  if (typeof value === 'string') {
    return /^TODO\b/.test(value) || value === AUTHOR_PLACEHOLDER
      ? [{ path: pointer, message: `still holds the placeholder "${value}" from modelhub init` }]
      : [];
  }
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, child]) => findPlaceholders(child, `${pointer}/${key}`));
  }
  return [];
}

export class MetadataServable extends ServableDescription {
  private constructor(document: MetadataDraft) {
    super(document.servable);
    this.datacite = structuredClone({ ...this.datacite, ...document.datacite });
    this.hub = structuredClone({ ...this.hub, ...document.hub });
  }

  /** A document as read from JSON; it is checked in `toMetadata()`, not here. */
  static fromDocument(document: {
    datacite?: MetadataDraft['datacite'];
    hub?: MetadataDraft['hub'];
    servable: ServableBlock;
  }): MetadataServable {
    if (!document || typeof document !== 'object' || !document.servable || typeof document.servable !== 'object') {
      throw new TypeError('the metadata document has no "servable" block (run `modelhub init` to write one)');
    }
    return new MetadataServable({
      datacite: document.datacite ?? {},
      hub: document.hub ?? {},
      servable: {
        ...document.servable,
        methods: (document.servable as Partial<ServableBlock>).methods ?? {
          run: { input: { type: 'any' }, output: { type: 'any' } },
        },
      },
    });
  }

  /** As for every servable, and also refuses placeholders a template still holds. */
  override toMetadata(): ServableMetadata {
    const placeholders = findPlaceholders(this.draftMetadata());
    if (placeholders.length === 0) return super.toMetadata();
    const schema = metadataProblems(this.draftMetadata());
    throw new MetadataValidationError([...placeholders, ...schema]);
  }
}
