import { describe, expect, it } from 'vitest';
import { SearchQueryBuilder } from '../../sdk/query-builder.ts';
import { parseServableName, servablePath } from '../../sdk/servable-name.ts';

describe('SearchQueryBuilder', () => {
  it('turns every matcher into its /search parameter', () => {
    const params = new SearchQueryBuilder()
      .text('band gap')
      .text('perovskite')
      .matchDomains(['materials science', 'chemistry'])
      .matchAuthors(['Curie, Marie', 'Bohr'])
      .matchOwner('alice')
      .matchType('onnx')
      .matchDoi('10.1000/xyz123')
      .latestOnly(false)
      .limit(5)
      .offset(10)
      .toParams();
    expect(Object.fromEntries(params)).toEqual({
      q: 'band gap perovskite',
      domain: 'materials science,chemistry',
      author: 'Curie, Marie;Bohr',
      owner: 'alice',
      type: 'onnx',
      doi: '10.1000/xyz123',
      latest: 'false',
      limit: '5',
      offset: '10',
    });
    expect(params.toString()).toBe(
      'q=band+gap+perovskite&owner=alice&domain=materials+science%2Cchemistry&author=Curie%2C+Marie%3BBohr&type=onnx&doi=10.1000%2Fxyz123&limit=5&offset=10&latest=false',
    );
  });

  it('sends nothing it was not given', () => {
    expect(new SearchQueryBuilder().text('  ').toParams().toString()).toBe('');
    expect(new SearchQueryBuilder().latestOnly().toParams().toString()).toBe('latest=true');
  });
});

describe('servable names', () => {
  it('parses owner/name and owner/name@version', () => {
    expect(parseServableName('alice/vad')).toEqual({ owner: 'alice', name: 'vad' });
    expect(parseServableName('alice/vad@3')).toEqual({ owner: 'alice', name: 'vad', version: 3 });
    expect(parseServableName('alice/vad', 2)).toEqual({ owner: 'alice', name: 'vad', version: 2 });
    expect(servablePath({ owner: 'alice', name: 'v.1', version: 2 })).toBe('/servables/alice/v.1/versions/2');
  });

  it('refuses what API.md does not allow', () => {
    for (const bad of ['vad', 'Alice/vad', 'alice/vad@0', 'alice/vad@x', 'a/b/c', '-a/b']) {
      expect(() => parseServableName(bad), bad).toThrow(TypeError);
    }
  });
});
