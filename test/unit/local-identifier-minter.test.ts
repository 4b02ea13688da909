import { describe, expect, it } from 'vitest';
import { LocalIdentifierMinter, parseLocalIdentifier } from '../../hub-server/adapters/local-identifier-minter.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';

const document = {
  datacite: { creators: [{ name: 'Ward, Logan' }], titles: [{ title: 'Formation energy' }] },
  hub: {
    owner: 'ward-lab', name: 'oqmd.mlp_v2', version: 7, identifier: '', files: [],
    publication_date: '2026-01-02T03:04:05.000Z', visibility: 'public',
  },
  servable: {
    type: 'onnx',
    methods: { run: { input: { type: 'ndarray', shape: [null, 4], dtype: 'float32' }, output: { type: 'any' } } },
  },
} satisfies PublishedMetadata;

describe('LocalIdentifierMinter', () => {
  it('mints version and concept identifiers that parse back', async () => {
    const minter = new LocalIdentifierMinter('http://hub.example:8700/');
    const minted = await minter.mint(document);
    expect(minted).toEqual({
      identifier: 'modelhub:ward-lab/oqmd.mlp_v2/v7',
      identifierType: 'LOCAL',
      state: 'local',
      conceptIdentifier: 'modelhub:ward-lab/oqmd.mlp_v2',
    });
    expect(parseLocalIdentifier(minted.identifier)).toEqual({ owner: 'ward-lab', name: 'oqmd.mlp_v2', version: 7 });
    expect(parseLocalIdentifier(minted.conceptIdentifier!)).toEqual({ owner: 'ward-lab', name: 'oqmd.mlp_v2' });
    expect(minter.resolverUrl(minted.identifier)).toBe(
      'http://hub.example:8700/api/v1/identifiers/modelhub%3Award-lab%2Foqmd.mlp_v2%2Fv7',
    );
  });

  it('rejects what is not a local identifier', () => {
    for (const bad of ['10.5281/zenodo.1', 'modelhub:Ward/x', 'modelhub:a/b/v0', 'modelhub:a/b/c/v1', 'modelhub:a', 'modelhub:a/../b']) {
      expect(parseLocalIdentifier(bad), bad).toBeUndefined();
    }
  });
});
