/**
 * The DLHub document importer of `modelhub import-dlhub` (TypeScript) and of the Python client
 * (`modelhub.dlhub.convert_document`) must give the same metadata for the same DLHub documents:
 * both are run here on DLHub SDK's example documents and on one that exercises every mapping.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertArgumentType, convertDlhubDocument, DlhubFeatureError } from '../../sdk/models/dlhub-import.ts';
import { ROOT } from '../helpers/test-hub.ts';

const FIXTURES = path.join(ROOT, 'clients/python/tests/fixtures/dlhub');
const PYTHON = '/usr/bin/python3';

const EVERYTHING = {
  datacite: {
    creators: [
      { creatorName: 'Ward, Logan', affiliations: ['Argonne'], nameIdentifiers: [{ nameIdentifier: '0000-0002-1825-0097', nameIdentifierScheme: 'ORCID' }] },
      'Blaiszik, Ben',
    ],
    titles: [{ title: 'Everything' }],
    identifier: { identifier: '10.26311/abc', identifierType: 'DOI' },
    descriptions: [{ description: 'An abstract' }, { description: 'Odd', descriptionType: 'SeriesInformation' }],
    relatedIdentifiers: [
      { relatedIdentifier: '10.1/x', relatedIdentifierType: 'DOI', relationType: 'IsDescribedBy' },
      { relatedIdentifier: 'x', relatedIdentifierType: 'Nope', relationType: 'Cites' },
    ],
    rightsList: [{ rights: 'MIT', rightsUri: 'https://opensource.org/licenses/MIT' }],
    fundingReferences: [{ funderName: 'DOE', awardNumber: 'DE-AC02-06CH11357' }],
  },
  dlhub: { owner: 'loganw_globusid', name: 'Matminer Util', visible_to: ['urn:globus:groups:id:123'], domains: ['materials science'], files: { pickle: 'obj.pkl', other: ['a.txt'] } },
  servable: {
    shim: 'python.PythonClassMethodServable',
    methods: {
      run: {
        input: { type: 'tuple', element_types: [{ type: 'ndarray', shape: [null, 3], item_type: { type: 'float' } }, 'str'] },
        output: { type: 'dict', properties: { x: { type: 'int' }, y: { type: 'list', item_type: { type: 'bool' } } } },
        parameters: { scale: 2 },
        method_details: { method_name: 'predict', unpack: true },
      },
      featurize: { input: { type: 'python object' }, output: { type: 'float' }, method_details: { method_name: 'featurize' } },
    },
    dependencies: { python: { 'scikit-learn': '0.19.1', numpy: 'latest' } },
  },
};

function pythonConversion(document: unknown): unknown {
  const script = [
    'import json, sys',
    'from modelhub.dlhub import convert_document',
    'metadata, files, requirements, warnings = convert_document(json.load(sys.stdin))',
    'print(json.dumps({"metadata": metadata, "files": files, "requirements": requirements, "warnings": warnings}))',
  ].join('\n');
  const out = execFileSync(PYTHON, ['-c', script], {
    input: JSON.stringify(document),
    env: { ...process.env, PYTHONPATH: path.join(ROOT, 'clients/python/src') },
  });
  return JSON.parse(out.toString());
}

describe('DLHub document import', () => {
  const documents: [string, unknown][] = [
    ['static_method_sqrt.json', JSON.parse(readFileSync(path.join(FIXTURES, 'static_method_sqrt.json'), 'utf8'))],
    ['sklearn_svc.json', JSON.parse(readFileSync(path.join(FIXTURES, 'sklearn_svc.json'), 'utf8'))],
    ['a document using every mapping', EVERYTHING],
  ];

  it.runIf(existsSync(PYTHON)).each(documents)('TypeScript and Python agree on %s', (_name, document) => {
    const ts = convertDlhubDocument(document);
    expect(JSON.parse(JSON.stringify(ts))).toEqual(pythonConversion(document));
  });

  it('maps names, visibility, creators, identifiers and types', () => {
    const { metadata, files, requirements, warnings } = convertDlhubDocument(EVERYTHING);
    expect(metadata.hub).toEqual({ type: 'servable', name: 'matminer-util', owner: 'loganw-globusid', visibility: 'private', domains: ['materials science'] });
    expect(metadata.datacite.creators![0]).toMatchObject({ name: 'Ward, Logan', orcid: '0000-0002-1825-0097', affiliation: ['Argonne'] });
    expect(metadata.datacite.relatedIdentifiers).toEqual([
      { relatedIdentifier: '10.1/x', relatedIdentifierType: 'DOI', relationType: 'IsDescribedBy' },
      { relatedIdentifier: '10.26311/abc', relatedIdentifierType: 'DOI', relationType: 'IsVariantFormOf' },
    ]);
    expect(metadata.datacite.descriptions).toEqual([
      { description: 'An abstract', descriptionType: 'Abstract' },
      { description: 'Odd', descriptionType: 'Other' },
    ]);
    expect(metadata.servable.python).toEqual({ module: 'dlhub_class_method.py', class_name: 'DLHubClassMethod', method: 'run' });
    expect(metadata.servable.options).toEqual({ unpack_inputs: true });
    expect(metadata.servable.methods.run!.input).toEqual({
      type: 'tuple',
      element_types: [{ type: 'ndarray', shape: [null, 3], dtype: 'float64' }, { type: 'string' }],
    });
    expect(metadata.servable.methods.featurize).toEqual({ input: { type: 'any' }, output: { type: 'number' }, method_details: { method_name: 'featurize' } });
    expect(files).toEqual([['pickle', 'obj.pkl'], ['other', 'a.txt']]);
    expect(requirements).toEqual(['numpy', 'scikit-learn  # DLHub recorded 0.19.1']);
    expect(warnings.join('\n')).toMatch(/Globus identities/);
    expect(warnings.join('\n')).toMatch(/Nope/);
  });

  it('refuses what has no equivalent, naming it', () => {
    expect(() => convertDlhubDocument({ servable: { shim: 'matlab.MatlabServable', methods: {} } })).toThrow(DlhubFeatureError);
    expect(() => convertDlhubDocument({ servable: { shim: 'matlab.MatlabServable', methods: {} } })).toThrow(/matlab\.MatlabServable/);
    expect(() => convertDlhubDocument({ datacite: {} })).toThrow(/no "servable" block/);
    expect(() => convertArgumentType({ type: 'quaternion' })).toThrow(/quaternion/);
    const injected = structuredClone(EVERYTHING);
    injected.servable.methods.run.method_details.method_name = 'x(); import os';
    expect(() => convertDlhubDocument(injected)).toThrow(/Python identifier/);
  });
});
