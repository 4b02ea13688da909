/**
 * A servable described by a metadata document someone wrote (a `modelhub.json` from
 * `modelhub init`), for any runtime: the hub inspects the files and fills in what it can.
 */
import type { ServableBlock } from '../../schemas/metadata.ts';
import { ServableDescription, type MetadataDraft } from './servable-description.ts';

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
}
