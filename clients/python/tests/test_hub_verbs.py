"""Search, cite, describe, versions, withdraw, resolve, asynchronous runs, private servables
with tokens, and errors as HubError subclasses, against a real hub."""

from __future__ import annotations

import re

import numpy as np
import pytest

from modelhub import (HubClient, HubError, InvalidInputsError, NotFoundError, PythonFunction, SearchQuery,
                      ServableNotFoundError, TaskNotFoundError, UnauthenticatedError, WithdrawnError)
from modelhub.errors import ConnectionFailedError

AUTHORS = ['Franklin, Rosalind', 'Crick, Francis']


def double(x: float) -> float:
    return 2 * x


def halve(values: list) -> list:
    return [v / 2 for v in values]


def add(a, b):
    return a + b


def _publish(client, name, fn=double, title='Doubler', domains=('crystallography',), doi=None, **options):
    model = PythonFunction.create(fn, **options).set_name(name).set_title(title).set_authors(AUTHORS)
    model.set_domains(list(domains))
    if doi:
        model.add_related_identifier(doi)
    return client.publish_servable(model, progress=False)


@pytest.fixture(scope='module')
def catalogue(hub):
    client = HubClient(hub.url)
    _publish(client, 'rosalind/doubler', title='Helix doubler', doi='10.1038/171737a0')
    _publish(client, 'rosalind/halver', halve, title='Helix halver', domains=('genomics',))
    for i in range(5):
        _publish(client, f'crick/paged-{i}', title=f'Paged servable {i}', domains=('paging',))
    return client


def test_search_by_text_domain_author_doi_owner_type(catalogue):
    hits = catalogue.search('helix')
    assert {h['servable'] for h in hits} == {'rosalind/doubler', 'rosalind/halver'}
    assert [h['servable'] for h in catalogue.search(domain='genomics')] == ['rosalind/halver']
    assert [h['servable'] for h in catalogue.search(doi='10.1038/171737a0')] == ['rosalind/doubler']
    by_author = catalogue.query().match_authors('Franklin').match_owner('rosalind').match_type('python').search()
    assert {h['servable'] for h in by_author} == {'rosalind/doubler', 'rosalind/halver'}
    titled = catalogue.search(owner='rosalind', sort='title')
    assert [h['title'] for h in titled] == ['Helix doubler', 'Helix halver']
    with pytest.raises(ValueError):
        SearchQuery().sort_by('random')


def test_search_pages_iterate(catalogue):
    query = catalogue.query().match_domains('paging').sort_by('title').limit(2)
    first = query.search()
    assert first.total == 5 and len(first) == 2 and first.has_more()
    pages = list(first.pages())
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [h['title'] for h in query] == [f'Paged servable {i}' for i in range(5)]


def test_describe_versions_and_cite_bibtex(catalogue):
    servable = catalogue.describe('rosalind/doubler')
    assert servable.name == 'rosalind/doubler' and servable.version == 1 and servable.title == 'Helix doubler'
    assert [c['name'] for c in servable['datacite']['creators']] == AUTHORS
    assert [v['version'] for v in catalogue.versions('rosalind/doubler')] == [1]
    bibtex = catalogue.cite('rosalind/doubler', format='bibtex')
    # Parsed back: one entry, its fields as the metadata says.
    entry = re.match(r'\s*@(\w+)\s*\{\s*([^,]+),(.*)\}\s*$', bibtex, re.S)
    assert entry, bibtex
    fields = {k.lower(): v.strip() for k, v in re.findall(r'(\w+)\s*=\s*[{"](.*?)[}"]\s*,?\s*$', entry.group(3), re.M)}
    assert 'Helix doubler' in fields['title']
    assert 'Franklin' in fields['author'] and 'Crick' in fields['author'] and ' and ' in fields['author']
    assert re.match(r'^\d{4}$', fields['year'])
    apa = catalogue.cite('rosalind/doubler@1', format='apa')
    assert 'Helix doubler' in apa
    with pytest.raises(ValueError):
        catalogue.cite('rosalind/doubler', format='mla')


def test_withdraw_leaves_a_tombstone(hub):
    client = HubClient(hub.url)
    _publish(client, 'rosalind/to-withdraw', title='Soon gone')
    identifier = client.describe('rosalind/to-withdraw').identifier
    assert client.resolve(identifier)['servable'] == 'rosalind/to-withdraw'
    client.withdraw('rosalind/to-withdraw', reason='superseded')
    with pytest.raises((WithdrawnError, NotFoundError)) as caught:
        client.run('rosalind/to-withdraw', 1)
    assert caught.value.code in ('MODELHUB_SERVABLE_WITHDRAWN', 'MODELHUB_SERVABLE_NOT_FOUND')
    tombstone = client.resolve(identifier)
    assert tombstone.get('withdrawn') is True or tombstone.get('state') == 'withdrawn', tombstone
    assert 'rosalind/to-withdraw' not in [h['servable'] for h in client.search('Soon gone')]


def test_asynchronous_runs(catalogue):
    task = catalogue.run('rosalind/halver', [8, 3], asynchronous=True)
    assert task.status == 'PENDING' and task.task_id
    assert task.result(timeout=120).tolist() == [4.0, 1.5]
    finished = catalogue.get_task(task.task_id)
    assert finished.status == 'SUCCEEDED' and finished['kind'] == 'run'
    assert 'SUCCEEDED' in finished._repr_html_()
    second = catalogue.run('rosalind/doubler', 21, asynchronous=True)
    assert catalogue.wait(second, timeout=120)['result']['output'] == 42


def test_run_details_and_unpacked_inputs(hub):
    client = HubClient(hub.url)
    _publish(client, 'rosalind/adder', add, title='Adder', unpack_inputs=True)
    assert client.run('rosalind/adder', [2, 3]) == 5
    assert client.run('rosalind/adder', {'a': 'x', 'b': 'y'}) == 'xy'
    reply = client.run('rosalind/adder', [1, 1], details=True)
    assert reply['servable'] == 'rosalind/adder' and reply['version'] == 1 and reply.output == 2
    assert set(reply['timing']) >= {'total_ms'}


def test_errors_are_subclasses_with_codes(catalogue, hub):
    with pytest.raises(ServableNotFoundError) as caught:
        catalogue.run('nobody/nothing', [1])
    assert caught.value.code == 'MODELHUB_SERVABLE_NOT_FOUND' and caught.value.status == 404
    assert isinstance(caught.value, NotFoundError) and isinstance(caught.value, HubError)
    with pytest.raises(TaskNotFoundError):
        catalogue.get_task('00000000-0000-0000-0000-000000000000')
    # Declared input: an ndarray of float32 [None, 4] (a torch-free check: a sklearn model).
    from sklearn.linear_model import LinearRegression
    from modelhub import SklearnModel

    X = np.arange(20.0).reshape(5, 4)
    model = SklearnModel.create(LinearRegression().fit(X, X.sum(axis=1))).set_name('rosalind/linear')
    catalogue.publish_servable(model.set_title('Linear').set_authors(AUTHORS), progress=False)
    with pytest.raises(InvalidInputsError) as bad:
        catalogue.run('rosalind/linear', [[1.0, 2.0]])
    assert bad.value.code == 'MODELHUB_INVALID_INPUTS' and bad.value.status == 422
    with pytest.raises(ValueError):
        catalogue.run('Not A Name', 1)
    with pytest.raises(ConnectionFailedError) as unreachable:
        HubClient('http://127.0.0.1:9').describe('a/b')
    assert unreachable.value.code == 'MODELHUB_CONNECTION_FAILED' and unreachable.value.status == 0


def test_private_servable_with_a_token(token_hub):
    alice_token = token_hub.make_token('alice')
    bob_token = token_hub.make_token('bob')
    alice = HubClient(token_hub.url, token=alice_token)
    model = PythonFunction.create(double).set_name('alice/secret').set_title('Secret').set_authors(AUTHORS)
    alice.publish_servable(model.set_visibility('private'), progress=False)
    assert alice.run('alice/secret', 4) == 8
    assert alice.describe('alice/secret')['hub']['visibility'] == 'private'

    anonymous = HubClient(token_hub.url)
    with pytest.raises(NotFoundError):  # a private servable is not there for others
        anonymous.run('alice/secret', 4)
    with pytest.raises(NotFoundError):
        HubClient(token_hub.url, token=bob_token).describe('alice/secret')
    with pytest.raises(UnauthenticatedError) as bad_token:
        HubClient(token_hub.url, token='mh_not-a-real-token').describe('alice/secret')
    assert bad_token.value.code == 'MODELHUB_UNAUTHENTICATED' and bad_token.value.status == 401
    with pytest.raises(UnauthenticatedError):  # publishing needs a token on this hub
        anonymous.publish_servable(PythonFunction.create(double).set_name('anon/x').set_title('X').set_authors(AUTHORS),
                                   progress=False)


def test_token_from_the_environment(token_hub, monkeypatch):
    monkeypatch.setenv('MODELHUB_URL', token_hub.url)
    monkeypatch.setenv('MODELHUB_TOKEN', token_hub.make_token('carol'))
    client = HubClient()
    assert client.url == token_hub.url
    model = PythonFunction.create(double).set_name('carol/env').set_title('Env').set_authors(AUTHORS)
    assert client.publish_servable(model.set_visibility('private'), progress=False).status == 'SUCCEEDED'
    assert client.run('carol/env', 1) == 2
