"""Notebook views against HTML snapshots, and an install into a fresh venv with no index."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from modelhub import SearchResults, Servable, Task

SNAPSHOTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'snapshots')
PACKAGE = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))

SERVABLE = {
    'datacite': {
        'creators': [{'name': 'Curie, Marie', 'nameType': 'Personal'}, {'name': 'Curie, Pierre', 'nameType': 'Personal'}],
        'titles': [{'title': 'Iris <classifier> & friends'}],
        'publicationYear': '2026', 'publisher': 'modelhub',
        'descriptions': [{'description': 'Predicts the species of an iris.', 'descriptionType': 'Abstract'}],
        'relatedIdentifiers': [{'relatedIdentifier': '10.1000/xyz', 'relatedIdentifierType': 'DOI', 'relationType': 'IsDescribedBy'}],
        'rightsList': [{'rights': 'Apache-2.0'}],
    },
    'hub': {'owner': 'alice', 'name': 'iris', 'version': 2, 'visibility': 'public', 'identifier': 'modelhub:alice/iris/v2',
            'domains': ['botany'], 'publication_date': '2026-12-05T09:00:00.000Z'},
    'servable': {'type': 'sklearn', 'methods': {
        'run': {'input': {'type': 'ndarray', 'shape': [None, 4], 'dtype': 'float64', 'description': 'four measurements'},
                'output': {'type': 'ndarray', 'shape': [None], 'dtype': 'int64'}},
        'predict_proba': {'input': {'type': 'ndarray', 'shape': [None, 4], 'dtype': 'float64'},
                          'output': {'type': 'ndarray', 'shape': [None, 3], 'dtype': 'float64'},
                          'description': 'class probabilities'}}},
}

TASK = {'task_id': 'c0ffee00-0000-4000-8000-000000000001', 'kind': 'publish', 'status': 'FAILED', 'servable': 'alice/iris',
        'version': 2, 'steps': [{'name': 'validate', 'status': 'SUCCEEDED', 'message': 'the metadata document is valid'},
                                {'name': 'inspect', 'status': 'FAILED', 'message': 'cannot unpickle <model.pkl>'},
                                {'name': 'ready', 'status': 'PENDING'}],
        'error': {'code': 'MODELHUB_INVALID_MODEL', 'message': 'The model file cannot be used: truncated'}}

SEARCH = {'total': 3, 'hits': [
    {'servable': 'alice/iris', 'version': 2, 'title': 'Iris', 'authors': ['Curie, Marie'], 'domains': ['botany'], 'type': 'sklearn',
     'identifier': 'modelhub:alice/iris/v2', 'score': 0.123456},
    {'servable': 'bob/mnist', 'version': 1, 'title': 'Digits & <more>', 'authors': ['Lovelace, Ada', 'Babbage, Charles'],
     'domains': [], 'type': 'onnx', 'identifier': 'modelhub:bob/mnist/v1', 'score': 2}], 'facets': {}}


def _check(name: str, html: str) -> None:
    path = os.path.join(SNAPSHOTS, name)
    if os.environ.get('MODELHUB_UPDATE_SNAPSHOTS') == '1' or not os.path.exists(path):
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write(html)
    with open(path, encoding='utf-8') as handle:
        assert html == handle.read(), f'{name} changed; set MODELHUB_UPDATE_SNAPSHOTS=1 to accept'


def test_servable_model_card_snapshot():
    html = Servable(SERVABLE)._repr_html_()
    assert '&lt;classifier&gt; &amp; friends' in html and '<classifier>' not in html
    assert 'Curie, Marie; Curie, Pierre (2026). Iris &lt;classifier&gt; &amp; friends (Version 2) [Model]. modelhub. modelhub:alice/iris/v2' in html
    assert 'HubClient().run(&quot;alice/iris&quot;, [[0, 0, 0, 0]])' in html
    _check('servable.html', html)


def test_task_steps_snapshot():
    html = Task(TASK)._repr_html_()
    assert html.count('<tr>') == 4 and 'MODELHUB_INVALID_MODEL' in html and '&lt;model.pkl&gt;' in html
    _check('task.html', html)


def test_search_table_snapshot():
    html = SearchResults(SEARCH)._repr_html_()
    assert '2 of 3 servables' in html and 'Digits &amp; &lt;more&gt;' in html and '0.123' in html
    _check('search.html', html)
    assert 'No servables match' in SearchResults({'total': 0, 'hits': []})._repr_html_()


@pytest.mark.skipif(not os.path.exists('/usr/bin/python3'), reason='needs Debian\'s python3 with python3-venv')
def test_installs_into_a_fresh_venv_without_an_index(tmp_path):
    venv = tmp_path / 'venv'
    subprocess.run(['/usr/bin/python3', '-m', 'venv', '--system-site-packages', str(venv)], check=True, timeout=300)
    python = str(venv / 'bin' / 'python')
    # Built from a copy: the build writes build/ and *.egg-info beside the sources.
    subprocess.run(['cp', '-r', PACKAGE, str(tmp_path / 'src-copy')], check=True)
    env = {**os.environ, 'PIP_NO_INDEX': '1', 'PIP_DISABLE_PIP_VERSION_CHECK': '1', 'PYTHONPATH': ''}
    done = subprocess.run([python, '-m', 'pip', 'install', '--no-index', '--no-build-isolation', str(tmp_path / 'src-copy')],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    probe = ('import modelhub, modelhub.dlhub, os; from modelhub.dlhub.models.servables.sklearn import ScikitLearnModel; '
             'print(modelhub.__version__, os.path.dirname(modelhub.__file__))')
    out = subprocess.run([python, '-c', probe], capture_output=True, text=True, env=env, cwd=str(tmp_path), check=True).stdout
    version, where = out.split()
    assert version == '0.1.0' and where.startswith(str(venv))
