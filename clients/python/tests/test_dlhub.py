"""DLHub migration: a DLHub user's script runs with only its imports changed; DLHub servable
documents import and run; DLHub features without an equivalent say so."""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.svm import SVC

from modelhub import HubClient
from modelhub.dlhub import DLHubClient, convert_document, import_servable_document, to_hub_name

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, 'fixtures')
SRC = os.path.abspath(os.path.join(HERE, '..', 'src'))


def test_a_dlhub_script_runs_with_only_its_imports_changed(hub, tmp_path):
    with open(os.path.join(FIXTURES, 'dlhub_user_script.py')) as handle:
        original = handle.read()
    migrated = re.sub(r'^from dlhub_sdk(\.| )', r'from modelhub.dlhub\1', original, flags=re.M)
    changed = [(a, b) for a, b in zip(original.splitlines(), migrated.splitlines()) if a != b]
    assert len(changed) == 3 and all(a.startswith('from dlhub_sdk') for a, _ in changed)
    script = tmp_path / 'script.py'
    script.write_text(migrated)
    env = {**os.environ, 'MODELHUB_URL': hub.url, 'MODELHUB_OWNER': 'logan', 'PYTHONPATH': SRC,
           'MODELHUB_CONFIG': str(tmp_path / 'no-login.json')}
    env.pop('MODELHUB_TOKEN', None)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=500)
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])

    assert results['publish_static'] == results['publish_class'] == results['publish_sklearn'] == 'SUCCEEDED'
    assert results['numpy_max'] == [5, 7]
    assert results['class_method'] == 3 * 2.0 + 1
    X, y = load_iris(return_X_y=True)
    with open(tmp_path / 'model.pkl', 'rb') as handle:
        svc = pickle.load(handle)
    np.testing.assert_allclose(results['iris'], svc.predict_proba(X[:3]), rtol=1e-9)
    assert results['async'] == [8] and results['async_done'] is True
    assert results['methods'] == 'Response'
    assert results['describe'] == 'Iris SVC'
    assert results['search'] == ['logan/numpy_max']
    assert results['by_servable'] == ['iris_svc']
    assert results['by_authors'] == ['iris_svc']
    assert results['by_doi'] == ['iris_svc']
    assert results['list'] == ['logan/example_class_method', 'logan/iris_svc', 'logan/numpy_max']


def test_dlhub_static_method_document_imports_and_runs(hub):
    model = import_servable_document(os.path.join(FIXTURES, 'dlhub', 'static_method_sqrt.json'), owner='logan',
                                     authors=['Ward, Logan'])
    metadata = model.to_metadata()
    assert metadata['hub'] == {'type': 'servable', 'name': 'static_method', 'owner': 'logan', 'visibility': 'public'}
    assert metadata['servable']['python'] == {'module': 'math', 'function': 'sqrt'}
    assert metadata['servable']['options'] == {'autobatch': True}
    assert metadata['servable']['methods']['run']['input'] == {'type': 'list', 'description': 'List of numbers',
                                                               'item_type': {'type': 'number'}}
    assert 'identifier' not in metadata['datacite']  # DLHub's 10.YET/UNASSIGNED placeholder is dropped
    assert [inside for _, inside in model.files()] == ['dlhub.json']
    client = HubClient(hub.url)
    client.publish_servable(model, progress=False)
    np.testing.assert_allclose(client.run('logan/static_method', [4, 9, 2]), [2.0, 3.0, math.sqrt(2)])
    # DLHub's own name for it works through the DLHub client too.
    assert DLHubClient(url=hub.url).run('logan/static_method', [16]) == [4.0]


def test_dlhub_sklearn_document_imports_with_its_model_file_and_runs(hub, tmp_path):
    X, y = load_iris(return_X_y=True)
    svc = SVC(kernel='linear', probability=True, random_state=0).fit(X, y)
    model_file = tmp_path / 'model.pkl'
    with open(model_file, 'wb') as handle:
        pickle.dump(svc, handle)
    model = import_servable_document(os.path.join(FIXTURES, 'dlhub', 'sklearn_svc.json'), files=[str(model_file)],
                                     owner='logan', authors=['Ward, Logan'])
    servable = model.to_metadata()['servable']
    assert servable['type'] == 'sklearn' and servable['model_file'] == 'model.pkl'
    assert servable['runtime'] == {'serialization': 'pickle'}
    assert servable['methods']['run']['method_details'] == {'method_name': 'predict_proba'}
    assert servable['methods']['run']['input'] == {
        'type': 'ndarray', 'shape': [None, 4], 'dtype': 'float64',
        'description': 'List of records to evaluate with model. Each record is a list of 4 variables.'}
    assert sorted(inside for _, inside in model.files()) == ['dlhub.json', 'model.pkl', 'requirements.txt']
    client = HubClient(hub.url)
    client.publish_servable(model, progress=False)
    np.testing.assert_allclose(client.run('logan/sklearn', X[:4]), svc.predict_proba(X[:4]), rtol=1e-9)


def test_conversion_of_datacite_visibility_and_names():
    document = {
        'datacite': {'creators': [{'creatorName': 'Ward, Logan', 'affiliations': ['Argonne'],
                                   'nameIdentifiers': [{'nameIdentifier': '0000-0002-1825-0097', 'nameIdentifierScheme': 'ORCID'}]}],
                     'titles': [{'title': 'T'}], 'identifier': {'identifier': '10.26311/abc', 'identifierType': 'DOI'},
                     'relatedIdentifiers': [{'relatedIdentifier': '10.1/x', 'relatedIdentifierType': 'DOI', 'relationType': 'IsDescribedBy'},
                                            {'relatedIdentifier': 'x', 'relatedIdentifierType': 'Nope', 'relationType': 'Cites'}]},
        'dlhub': {'owner': 'loganw_globusid', 'name': 'Matminer Util', 'visible_to': ['urn:globus:groups:id:123'],
                  'domains': ['materials science']},
        'servable': {'shim': 'python.PythonStaticMethodServable',
                     'methods': {'run': {'input': {'type': 'python object'}, 'output': {'type': 'dict', 'properties': {'x': {'type': 'int'}}},
                                         'method_details': {'module': 'app', 'method_name': 'run', 'unpack': True}}}},
    }
    metadata, files, requirements, warnings = convert_document(document)
    assert metadata['hub']['owner'] == 'loganw-globusid' and metadata['hub']['name'] == 'matminer-util'
    assert to_hub_name('loganw_globusid/Matminer Util') == 'loganw-globusid/matminer-util'
    assert metadata['hub']['visibility'] == 'private' and metadata['hub']['domains'] == ['materials science']
    creator = metadata['datacite']['creators'][0]
    assert creator['orcid'] == '0000-0002-1825-0097' and creator['affiliation'] == ['Argonne'] and creator['familyName'] == 'Ward'
    assert metadata['datacite']['relatedIdentifiers'] == [
        {'relatedIdentifier': '10.1/x', 'relatedIdentifierType': 'DOI', 'relationType': 'IsDescribedBy'},
        {'relatedIdentifier': '10.26311/abc', 'relatedIdentifierType': 'DOI', 'relationType': 'IsVariantFormOf'}]
    assert metadata['servable']['methods']['run']['input'] == {'type': 'any'}
    assert metadata['servable']['methods']['run']['output'] == {'type': 'dict', 'properties': {'x': {'type': 'integer'}}}
    assert metadata['servable']['options'] == {'unpack_inputs': True}
    assert any('Globus' in w for w in warnings) and any('Nope' in w for w in warnings)
    with pytest.raises(NotImplementedError, match='shim'):
        convert_document({'servable': {'shim': 'matlab.MatlabServable', 'methods': {}}})


def test_dlhub_features_without_an_equivalent_raise_naming_them(hub):
    dl = DLHubClient(url=hub.url, owner='logan')
    with pytest.raises(NotImplementedError, match='Globus Search'):
        dl.search('servable.type:"Keras Model"', advanced=True)
    with pytest.raises(NotImplementedError, match='publish_repository'):
        dl.publish_repository('https://github.com/DLHub-Argonne/example-repo.git')
    with pytest.raises(NotImplementedError, match='debug'):
        dl.run('logan/static_method', [1], debug=True)
    with pytest.raises(NotImplementedError, match='authorizers'):
        DLHubClient(dlh_authorizer=object())
    from modelhub.dlhub.models.servables.python import PythonStaticMethodModel

    with pytest.raises(NotImplementedError, match='function_kwargs'):
        PythonStaticMethodModel.create_model('numpy', 'max', function_kwargs={'axis': 0})
    with pytest.raises(AttributeError, match='No such servable'):
        dl.describe_servable('logan/never-published')
