"""``DLHubClient`` with DLHub SDK's method names and argument shapes, on a modelhub.

A DLHub script runs unchanged once its import says ``from modelhub.dlhub import DLHubClient``
(or ``from modelhub.dlhub.client import DLHubClient``). DLHub names (``owner/name``) map onto
this hub's names: lower-cased, with characters this hub does not allow turned into ``-``
(``loganw_globusid/Matminer_Util`` → ``loganw-globusid/matminer_util``). Results are DLHub-shaped:
full metadata records with a ``dlhub`` block (``owner``, ``name``, ``shorthand_name``,
``version``, ``domains``, ``identifier``) beside this hub's ``hub`` block; outputs are plain
JSON values, as DLHub returned them.

No equivalent here, so NotImplementedError: Globus Auth authorizers, ``logout``,
``publish_repository``, advanced Globus Search queries (``advanced=True``), ``debug=True`` runs,
and ``function_kwargs``.
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..client import HubClient
from ..documents import Task
from ..errors import NotFoundError
from ..models.base import ServableDescription

__all__ = ['DLHubClient', 'DLHubFuture', 'to_hub_name']

_EASY_PUBLISH_TYPES = {
    'static_method': 'PythonStaticMethodModel',
    'class_method': 'PythonClassMethodModel',
    'keras': 'KerasModel',
    'pytorch': 'TorchModel',
    'tensorflow': 'TensorFlowModel',
    'sklearn': 'ScikitLearnModel',
}


def _owner(value: str) -> str:
    return re.sub(r'[^a-z0-9-]+', '-', value.strip().lower()).strip('-')[:39]


def _short(value: str) -> str:
    return re.sub(r'[^a-z0-9._-]+', '-', value.strip().lower()).strip('-._')[:64]


def to_hub_name(name: str) -> str:
    """A DLHub name ``<user>/<servable_name>`` as this hub names it."""
    parts = name.split('/')
    if len(parts) < 2:
        raise AttributeError('Please enter name in the form <user>/<servable_name>')
    return f'{_owner(parts[0])}/{_short("/".join(parts[1:]).replace("/", "-"))}'


def _dlhub_record(document: Dict[str, Any]) -> Dict[str, Any]:
    """A hub document with DLHub's ``dlhub`` block beside the ``hub`` block."""
    hub = document.get('hub', {})
    record = dict(document)
    record['dlhub'] = {
        'owner': hub.get('owner'),
        'name': hub.get('name'),
        'shorthand_name': f'{hub.get("owner")}/{hub.get("name")}',
        'version': hub.get('version'),
        'domains': hub.get('domains', []),
        'visible_to': ['public'] if hub.get('visibility', 'public') == 'public' else [f'user:{hub.get("owner")}'],
        'publication_date': hub.get('publication_date'),
        'identifier': hub.get('identifier'),
        'type': 'servable',
    }
    return record


class DLHubFuture:
    """What ``run(..., asynchronous=True)`` returns, as DLHub's future: ``result(timeout)``, ``done()``."""

    def __init__(self, client: 'DLHubClient', task: Task, async_wait: float = 5):
        self.client = client
        self.task_id = task.task_id
        self.async_wait = async_wait
        self._task = task

    def done(self) -> bool:
        if not self._task.done:
            self._task = self.client._hub.get_task(self.task_id)
        return self._task.done

    def result(self, timeout: Optional[float] = None) -> Any:
        # DLHub polled every `async_wait` seconds; a short first poll keeps quick runs quick.
        self._task = self.client._hub.wait(self.task_id, timeout=timeout, interval=min(self.async_wait, 0.5))
        return self._task['result']['output']

    def __repr__(self) -> str:
        return f'<DLHubFuture task={self.task_id} done={self._task.done}>'


class DLHubClient:
    """DLHub SDK's client, on a modelhub (``url``/``token`` as for HubClient)."""

    def __init__(self, dlh_authorizer: Any = None, search_authorizer: Any = None, fx_authorizer: Any = None,
                 openid_authorizer: Any = None, sl_authorizer: Any = None, http_timeout: Optional[float] = None,
                 force_login: bool = False, url: Optional[str] = None, token: Optional[str] = None,
                 owner: Optional[str] = None, **kwargs: Any):
        """DLHub logs in with Globus Auth; here the hub and token come from ``url``/``token``,
        ``$MODELHUB_URL``/``$MODELHUB_TOKEN`` or ``modelhub login``. ``force_login``,
        ``no_local_server`` and ``no_browser`` concern Globus' login flow and are ignored."""
        if any(a is not None for a in (dlh_authorizer, search_authorizer, fx_authorizer, openid_authorizer, sl_authorizer)):
            raise NotImplementedError('Globus Auth authorizers have no equivalent on modelhub: pass token= '
                                      '(an API token, see `modelhub token create`)')
        self._hub = HubClient(url=url, token=token, timeout=http_timeout or 300.0)
        self._owner = owner

    @property
    def hub(self) -> HubClient:
        """The underlying HubClient, for everything DLHub did not have (cite, withdraw, ...)."""
        return self._hub

    # ---- identity ---------------------------------------------------------------------------------

    def get_username(self) -> str:
        """The owner servables are published as: ``owner=``, ``$MODELHUB_OWNER``, or the token's user."""
        if self._owner:
            return _owner(self._owner)
        if os.environ.get('MODELHUB_OWNER'):
            return _owner(os.environ['MODELHUB_OWNER'])
        try:
            who = self._hub.whoami()
        except NotFoundError:
            who = {}
        user = who.get('user') if isinstance(who.get('user'), str) else (who.get('user') or {}).get('name')
        if not user:
            raise RuntimeError('cannot tell which owner to publish as: pass DLHubClient(owner=...) or set MODELHUB_OWNER')
        return _owner(user)

    def logout(self) -> None:
        raise NotImplementedError('logout (revoking Globus Auth tokens) has no equivalent on modelhub: '
                                  'revoke the API token with `modelhub token revoke`')

    # ---- discovery --------------------------------------------------------------------------------

    def get_servables(self, only_latest_version: bool = True) -> List[Dict[str, Any]]:
        """Full records of every servable (the latest version of each; every version otherwise)."""
        records = []
        for item in self._hub.list_servables():
            name = item['servable']
            if only_latest_version:
                records.append(_dlhub_record(self._hub.describe(name)))
            else:
                for version in self._hub.versions(name):
                    if version.get('state', 'published') == 'published':
                        records.append(_dlhub_record(self._hub.describe(name, version=version['version'])))
        return records

    def list_servables(self) -> List[str]:
        """Every servable name, ``owner/name``."""
        return [item['servable'] for item in self._hub.list_servables()]

    def describe_servable(self, name: str) -> Dict[str, Any]:
        hub_name = to_hub_name(name)
        try:
            return _dlhub_record(self._hub.describe(hub_name))
        except NotFoundError as error:
            # DLHub raised AttributeError for an unknown servable; this stays a HubError too.
            raise _NoSuchServable(f'No such servable: {name}', code=error.code, status=error.status,
                                  details=error.details, url=error.url) from None

    def describe_methods(self, name: str, method: Optional[str] = None) -> Dict[str, Any]:
        methods = self.describe_servable(name)['servable']['methods']
        if method is None:
            return methods
        if method not in methods:
            raise ValueError(f'No such method "{method}"; {name} has {", ".join(methods)}')
        return methods[method]

    def _records(self, hits: Sequence[Dict[str, Any]], only_latest: bool) -> List[Dict[str, Any]]:
        records = []
        seen = set()
        for hit in hits:
            if only_latest and hit['servable'] in seen:
                continue
            seen.add(hit['servable'])
            records.append(_dlhub_record(self._hub.describe(hit['servable'], version=hit.get('version'))))
        return records

    def _search_all(self, query: Any, limit: Optional[int]) -> List[Dict[str, Any]]:
        hits = []
        for hit in query.search().all() if hasattr(query, 'search') else query:
            hits.append(hit)
            if limit is not None and len(hits) >= limit:
                break
        return hits

    def search(self, query: str, advanced: bool = False, limit: Optional[int] = None,
               only_latest: bool = True) -> List[Dict[str, Any]]:
        """Free text over titles, descriptions, authors and domains."""
        if advanced:
            raise NotImplementedError('advanced Globus Search queries (field:"value" syntax) have no equivalent on '
                                      'modelhub: use search_by_* or hub.query().match_domains(...).match_type(...)')
        q = self._hub.query().text(query).latest_only(only_latest)
        return self._records(self._search_all(q, limit), only_latest)

    def search_by_servable(self, servable_name: Optional[str] = None, owner: Optional[str] = None,
                           version: Optional[int] = None, only_latest: bool = True, limit: Optional[int] = None,
                           get_info: bool = False) -> Union[List[Dict[str, Any]], Tuple[List[Dict[str, Any]], Dict[str, Any]]]:
        """Servables by name and/or owner (and version: this hub numbers versions 1, 2, 3 ...)."""
        if not servable_name and not owner and not version:
            raise ValueError("One of 'servable_name', 'owner', or 'publication_date' is required.")
        records: List[Dict[str, Any]] = []
        if servable_name and owner:
            name = to_hub_name(f'{owner}/{servable_name}')
            try:
                if version is not None:
                    records = [_dlhub_record(self._hub.describe(name, version=int(version)))]
                elif only_latest:
                    records = [_dlhub_record(self._hub.describe(name))]
                else:
                    records = [_dlhub_record(self._hub.describe(name, version=v['version']))
                               for v in self._hub.versions(name) if v.get('state', 'published') == 'published']
            except NotFoundError:
                records = []
        else:
            wanted = _short(servable_name) if servable_name else None
            for item in self._hub.list_servables(owner=_owner(owner) if owner else None):
                if wanted is None or item['servable'].split('/', 1)[1] == wanted:
                    records.append(_dlhub_record(self._hub.describe(item['servable'], version=version)))
        if limit is not None:
            records = records[:limit]
        return (records, {'total_query_matches': len(records)}) if get_info else records

    def search_by_authors(self, authors: Union[str, Sequence[str]], match_all: bool = True, limit: Optional[int] = None,
                          only_latest: bool = True) -> List[Dict[str, Any]]:
        """Authors as ``Family, Given``; ``match_all`` requires every one on a servable."""
        authors = [authors] if isinstance(authors, str) else list(authors)
        q = self._hub.query().match_authors(authors).latest_only(only_latest)
        records = self._records(self._search_all(q, None), only_latest)
        if match_all and len(authors) > 1:
            def has_all(record: Dict[str, Any]) -> bool:
                names = [c.get('name', '').lower() for c in record['datacite'].get('creators', [])]
                return all(any(a.lower().split(',')[0].strip() in n for n in names) for a in authors)
            records = [r for r in records if has_all(r)]
        return records[:limit] if limit is not None else records

    def search_by_related_doi(self, doi: str, limit: Optional[int] = None, only_latest: bool = True) -> List[Dict[str, Any]]:
        q = self._hub.query().match_doi(doi).latest_only(only_latest)
        return self._records(self._search_all(q, limit), only_latest)

    @property
    def query(self) -> Any:
        """A SearchQuery (DLHub's ``client.query``): ``match_domains``, ``match_authors``, ... ``search()``."""
        return self._hub.query()

    # ---- running ----------------------------------------------------------------------------------

    def run(self, name: str, inputs: Any, parameters: Optional[Dict[str, Any]] = None, asynchronous: bool = False,
            debug: bool = False, validate_input: bool = False, async_wait: float = 5,
            timeout: Optional[float] = None) -> Any:
        """Run a servable; ``asynchronous=True`` returns a DLHubFuture. The hub always checks the
        inputs against the declared types (422 InvalidInputsError), so ``validate_input`` is implied."""
        if debug:
            raise NotImplementedError('debug=True (capturing the servable\'s stdout and stderr) has no equivalent on '
                                      'modelhub: the hub\'s log holds what a servable prints')
        hub_name = to_hub_name(name)
        if asynchronous:
            return DLHubFuture(self, self._hub.run(hub_name, inputs, parameters=parameters, asynchronous=True), async_wait)
        if timeout is not None:
            future = DLHubFuture(self, self._hub.run(hub_name, inputs, parameters=parameters, asynchronous=True), async_wait)
            return future.result(timeout=timeout)
        return self._hub.run(hub_name, inputs, parameters=parameters, details=True)['output']

    def run_serial(self, servables: Sequence[str], inputs: Any, async_wait: float = 5) -> Any:
        """Each servable's output is the next one's input."""
        data = inputs
        for servable in servables:
            data = self.run(servable, data, async_wait=async_wait)
        return data

    def get_task_status(self, task_id: str) -> Dict[str, Any]:
        """The task document, with DLHub's ``pending`` flag."""
        task = dict(self._hub.get_task(task_id))
        task['pending'] = task.get('status') in ('PENDING', 'RUNNING')
        return task

    def get_result(self, task_id: str, verbose: bool = False) -> Any:
        task = self._hub.wait(task_id)
        return dict(task) if verbose else task['result']['output']

    def clear_funcx_cache(self, servable: Optional[str] = None) -> 'DLHubClient':
        """DLHub cached funcX function ids; nothing is cached here."""
        return self

    # ---- publishing -------------------------------------------------------------------------------

    def publish_servable(self, model: ServableDescription) -> str:
        """Publish; returns the task id (DLHub returned the container task's id). The owner is
        ``get_username()`` unless the model's name says ``owner/name``."""
        if not model.hub.get('owner'):
            model.set_owner(self.get_username())
        if model.hub.get('name'):
            model.hub['name'] = _short(model.hub['name'])
        task = self._hub.publish_servable(model, wait=False, progress=False)
        return task.task_id

    def publish_repository(self, repository: str) -> str:
        raise NotImplementedError('publish_repository (building a servable from a GitHub repository) has no equivalent '
                                  'on modelhub: clone it and publish the model with publish_servable')

    def easy_publish(self, title: str, creators: Union[str, List[str]], short_name: str, servable_type: str,
                     serv_options: Dict[str, Any], affiliations: Optional[List[Sequence[str]]] = None,
                     paper_doi: Optional[str] = None) -> str:
        if servable_type not in _EASY_PUBLISH_TYPES:
            raise ValueError(f'dl.easy_publish given invalid servable type: {servable_type}, please refer to the docstring')
        models = importlib.import_module('modelhub.dlhub.models')
        model = getattr(models, _EASY_PUBLISH_TYPES[servable_type]).create_model(**serv_options)
        model.set_title(title)
        model.set_creators([creators] if isinstance(creators, str) else creators, affiliations or None)
        model.set_name(short_name)
        if paper_doi is not None:
            model.add_related_resource(paper_doi, 'DOI', 'IsDescribedBy')
        return self.publish_servable(model)

    def wait_for_publish(self, task_id: str, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Not in DLHub (its builds were followed on the website): waits for the build to finish."""
        return dict(self._hub.wait(task_id, timeout=timeout))


class _NoSuchServable(NotFoundError, AttributeError):
    """DLHub raised AttributeError('No such servable'); this is that, and a NotFoundError."""

