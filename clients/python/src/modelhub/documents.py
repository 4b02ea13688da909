"""What the hub returns, as dicts (so ``doc['datacite']['titles']`` works as in DLHub) with
attributes and a notebook view: a servable's model card, a task with its steps, a page of search
hits."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional

from . import views
from .errors import error_for_code

__all__ = ['Servable', 'Task', 'SearchResults', 'RunResult']


class Servable(dict):
    """The metadata document of one servable version (``datacite``, ``hub``, ``servable``)."""

    @property
    def name(self) -> str:
        return f'{self["hub"]["owner"]}/{self["hub"]["name"]}'

    @property
    def version(self) -> Optional[int]:
        return self['hub'].get('version')

    @property
    def title(self) -> str:
        titles = self.get('datacite', {}).get('titles') or [{}]
        return titles[0].get('title', '')

    @property
    def identifier(self) -> Optional[str]:
        return self['hub'].get('identifier')

    @property
    def methods(self) -> Dict[str, Any]:
        return self.get('servable', {}).get('methods', {})

    def _repr_html_(self) -> str:
        return views.servable_card(self)


class Task(dict):
    """A publish or asynchronous run: ``status`` is PENDING, RUNNING, SUCCEEDED or FAILED."""

    def __init__(self, document: Dict[str, Any], client: Any = None):
        super().__init__(document)
        self._client = client

    @property
    def task_id(self) -> str:
        return self['task_id']

    @property
    def status(self) -> str:
        return self.get('status', 'PENDING')

    @property
    def done(self) -> bool:
        return self.status in ('SUCCEEDED', 'FAILED')

    @property
    def steps(self) -> List[Dict[str, Any]]:
        return list(self.get('steps') or [])

    def error(self) -> Optional[Exception]:
        """The failure as a HubError subclass (by the task's error code), or None."""
        if self.status != 'FAILED':
            return None
        error = self.get('error') or {}
        return error_for_code(error.get('code', 'MODELHUB_INTERNAL'), error.get('message', 'the task failed'),
                              details=error.get('details'), task=dict(self))

    def refresh(self) -> 'Task':
        fresh = self._client.get_task(self.task_id)
        self.clear()
        self.update(fresh)
        return self

    def wait(self, timeout: Optional[float] = None, interval: float = 0.5) -> 'Task':
        """Poll until the task finishes; a failed task raises its HubError."""
        return self._client.wait(self.task_id, timeout=timeout, interval=interval)

    def result(self, timeout: Optional[float] = None) -> Any:
        """The run's output once finished (numpy array for numeric outputs); raises if it failed."""
        task = self if self.done else self.wait(timeout=timeout)
        failure = task.error()
        if failure:
            raise failure
        from .values import from_output

        result = task.get('result')
        if task.get('kind') == 'run' and isinstance(result, dict) and 'output' in result:
            return from_output(result['output'])
        return result

    def _repr_html_(self) -> str:
        return views.task_view(self)


class RunResult(dict):
    """The full reply of a synchronous run: output, servable, version, timing, cached."""

    @property
    def output(self) -> Any:
        from .values import from_output

        return from_output(self.get('output'))


class SearchResults(list):
    """One page of search hits (a list of dicts), with ``total``, ``facets`` and ``next_page()``."""

    def __init__(self, reply: Dict[str, Any], fetch_page: Optional[Callable[[int], 'SearchResults']] = None,
                 offset: int = 0):
        super().__init__(reply.get('hits', []))
        self.total: int = reply.get('total', len(self))
        self.facets: Dict[str, Any] = reply.get('facets', {})
        self.offset = offset
        self._fetch_page = fetch_page

    @property
    def hits(self) -> List[Dict[str, Any]]:
        return list(self)

    def has_more(self) -> bool:
        return self.offset + len(self) < self.total and len(self) > 0

    def next_page(self) -> Optional['SearchResults']:
        if not self.has_more() or self._fetch_page is None:
            return None
        return self._fetch_page(self.offset + len(self))

    def pages(self) -> Iterator['SearchResults']:
        """This page and every following one, fetched as you iterate."""
        page: Optional[SearchResults] = self
        while page is not None:
            yield page
            page = page.next_page()

    def all(self) -> Iterator[Dict[str, Any]]:
        """Every hit across the pages."""
        for page in self.pages():
            yield from page

    def _repr_html_(self) -> str:
        return views.search_table(self)
