import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MetadataServable } from '../../sdk/models/metadata-servable.ts';
import { MetadataValidationError } from '../../sdk/errors.ts';
import { metadataProblems } from '../../sdk/validate-metadata.ts';

const blank = () =>
  MetadataServable.fromDocument({
    servable: { type: 'python', methods: { run: { input: { type: 'string' }, output: { type: 'number' } } } },
  });

describe('ServableDescription', () => {
  it('builds the DataCite, hub and servable blocks from chained setters', () => {
    const doc = blank()
      .setTitle('Band gap predictor')
      .setName('alice/band-gap')
      .setAuthors(['Curie, Marie', 'Lab Consortium'], [['Sorbonne'], []], ['0000-0002-1825-0097', undefined])
      .setDomains(['materials science', 'chemistry'])
      .setDescription('Predicts band gaps')
      .addRelatedIdentifier('10.1000/xyz123')
      .addRelatedIdentifier('https://example.org/code', 'URL', 'IsSupplementTo')
      .setLicense('Apache-2.0', 'https://www.apache.org/licenses/LICENSE-2.0')
      .addFunding({ funderName: 'NSF', awardNumber: '123' })
      .setVisibility('private')
      .setInputDescription('a chemical formula')
      .setOutputDescription('band gap in eV')
      .setBatching({ max_batch_size: 8 })
      .setDeterministic(true)
      .toMetadata();

    expect(doc).toEqual({
      datacite: {
        resourceType: { resourceTypeGeneral: 'Model' },
        titles: [{ title: 'Band gap predictor' }],
        creators: [
          {
            name: 'Curie, Marie',
            nameType: 'Personal',
            familyName: 'Curie',
            givenName: 'Marie',
            affiliation: ['Sorbonne'],
            orcid: '0000-0002-1825-0097',
            nameIdentifiers: [
              { nameIdentifier: 'https://orcid.org/0000-0002-1825-0097', nameIdentifierScheme: 'ORCID', schemeUri: 'https://orcid.org' },
            ],
          },
          { name: 'Lab Consortium', nameType: 'Personal' },
        ],
        subjects: [{ subject: 'materials science' }, { subject: 'chemistry' }],
        descriptions: [{ description: 'Predicts band gaps', descriptionType: 'Abstract' }],
        relatedIdentifiers: [
          { relatedIdentifier: '10.1000/xyz123', relatedIdentifierType: 'DOI', relationType: 'IsDescribedBy' },
          { relatedIdentifier: 'https://example.org/code', relatedIdentifierType: 'URL', relationType: 'IsSupplementTo' },
        ],
        rightsList: [{ rights: 'Apache-2.0', rightsUri: 'https://www.apache.org/licenses/LICENSE-2.0', rightsIdentifier: 'Apache-2.0' }],
        fundingReferences: [{ funderName: 'NSF', awardNumber: '123' }],
      },
      hub: {
        type: 'servable',
        owner: 'alice',
        name: 'band-gap',
        domains: ['materials science', 'chemistry'],
        visibility: 'private',
      },
      servable: {
        type: 'python',
        methods: {
          run: {
            input: { type: 'string', description: 'a chemical formula' },
            output: { type: 'number', description: 'band gap in eV' },
          },
        },
        options: { batching: { enabled: true, max_batch_size: 8 }, deterministic: true },
      },
    });
  });

  it('lists every failing path, not only the first', () => {
    const model = MetadataServable.fromDocument({
      hub: { name: 'Bad Name!' },
      servable: {
        type: 'onnx',
        methods: { run: { input: { type: 'ndarray', shape: [null, 3], dtype: 'float33' as 'float32' }, output: { type: 'any' } } },
      },
    })
      .setAuthors(['Curie, Marie'], undefined, ['not-an-orcid'])
      .addRelatedIdentifier('10.1/x', 'NotAType' as 'DOI')
      .setBatching({ max_batch_size: 0 });

    let thrown: unknown;
    try {
      model.toMetadata();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(MetadataValidationError);
    const problems = (thrown as MetadataValidationError).problems;
    expect(problems.map((p) => p.path).sort()).toEqual(
      [
        '/datacite/titles',
        '/datacite/creators/0/orcid',
        '/datacite/relatedIdentifiers/0/relatedIdentifierType',
        '/hub/owner',
        '/hub/name',
        '/servable/methods/run/input/dtype',
        '/servable/options/batching/max_batch_size',
      ].sort(),
    );
    // Unions of constants are reported once, with the allowed values.
    const dtype = problems.find((p) => p.path === '/servable/methods/run/input/dtype')!;
    expect(dtype.message).toMatch(/^must be one of bool, uint8, .*float32/);
    expect(problems.find((p) => p.path === '/hub/owner')!.message).toBe('is required');
    expect((thrown as Error).message).toContain('/datacite/creators/0/orcid');
  });

  it('accepts a document it built and rejects extra properties by name', () => {
    expect(metadataProblems({ datacite: {}, hub: { owner: 'a', name: 'b', colour: 'red' }, servable: { type: 'onnx', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } } }))
      .toEqual([
        { path: '/datacite/creators', message: 'is required' },
        { path: '/datacite/titles', message: 'is required' },
        { path: '/hub/colour', message: 'is not an allowed property' },
      ]);
  });

  it('adds files and folders with posix paths inside the servable', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sdk-files-'));
    mkdirSync(path.join(dir, 'weights', 'deep'), { recursive: true });
    writeFileSync(path.join(dir, 'model.json'), '{}');
    writeFileSync(path.join(dir, 'weights', 'a.bin'), 'a');
    writeFileSync(path.join(dir, 'weights', 'deep', 'b.bin'), 'b');
    const model = blank().addDirectory(dir).addFile(path.join(dir, 'model.json'), 'extra/copy.json');
    expect(model.files()).toEqual([
      { localPath: path.join(dir, 'model.json'), path: 'model.json' },
      { localPath: path.join(dir, 'weights', 'a.bin'), path: 'weights/a.bin' },
      { localPath: path.join(dir, 'weights', 'deep', 'b.bin'), path: 'weights/deep/b.bin' },
      { localPath: path.join(dir, 'model.json'), path: 'extra/copy.json' },
    ]);
    expect(() => blank().addFile(path.join(dir, 'model.json'), '../escape.json')).toThrow(/not a relative path/);
  });
});
