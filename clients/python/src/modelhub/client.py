"""``HubClient``: every verb of the hub's API (see docs/python.md), one method each."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.parse
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from ._http import Connection, MultipartBody, resolve_connection
from .documents import RunResult, SearchResults, Servable, Task
from .errors import CLIENT_TIMEOUT, ClientTimeoutError
from .models.base import ServableDescription
from .search import SearchQuery
from .values import from_output, to_jsonable

__all__ = ['HubClient', 'parse_name', 'CITATION_FORMATS']

CITATION_FORMATS = ('bibtex', 'csl', 'ris', 'apa', 'datacite-xml', 'datacite-json')
_NAME = re.compile(r'^([a-z0-9][a-z0-9-]{0,38})/([a-z0-9][a-z0-9._-]{0,63})(?:@(\d+))?$')


def parse_name(name: str, version: Optional[int] = None) -> Tuple[str, str, Optional[int]]:
    """``owner/name`` or ``owner/name@version`` → (owner, name, version)."""
    match = _NAME.match(name.strip())
    if not match:
        raise ValueError(f'{name!r} is not a servable name: expected owner/name or owner/name@version '
                         '(lower-case letters, digits, - . _)')
    parsed = int(match.group(3)) if match.group(3) else version
    if parsed is not None and (not isinstance(parsed, int) or parsed < 1):
        raise ValueError(f'{parsed!r} is not a version: versions are 1, 2, 3 ...')
    return match.group(1), match.group(2), parsed


def _servable_path(name: str, version: Optional[int] = None) -> str:
    owner, short, parsed = parse_name(name, version)
    base = f'/servables/{urllib.parse.quote(owner)}/{urllib.parse.quote(short)}'
    return base if parsed is None else f'{base}/versions/{parsed}'


def _size(count: int) -> str:
    for unit, scale in (('GB', 1e9), ('MB', 1e6), ('kB', 1e3)):
        if count >= scale:
            return f'{count / scale:.1f} {unit}'
    return f'{count} B'


class _Progress:
    """The upload bar (tqdm when installed, else a line on stderr every 10 %) and the build steps
    printed as they happen."""

    def __init__(self, enabled: bool, label: str):
        self.enabled = enabled
        self.label = label
        self.bar: Any = None
        self.last_tenth = -1

    def upload(self, sent: int, total: int) -> None:
        if not self.enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            if self.bar is None:
                self.bar = tqdm(total=total, unit='B', unit_scale=True, desc=f'upload {self.label}')
            self.bar.update(sent - self.bar.n)
            return
        tenth = int(10 * sent / total) if total else 10
        if tenth != self.last_tenth:
            self.last_tenth = tenth
            print(f'upload {self.label}: {_size(sent)} of {_size(total)} ({10 * tenth} %)', file=sys.stderr)

    def uploaded(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def event(self, kind: str, text: str) -> None:
        if self.enabled:
            print(f'{kind}: {text}', file=sys.stderr)


class HubClient:
    """A connection to one hub.

    ``url`` defaults to ``$MODELHUB_URL``, then the CLI's saved login (``modelhub login``), then
    ``http://127.0.0.1:8700``; ``token`` to ``$MODELHUB_TOKEN``, then the saved login's token (for
    its URL only).
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, timeout: float = 300.0):
        resolved_url, resolved_token = resolve_connection(url, token)
        self.url = resolved_url
        self._connection = Connection(resolved_url, resolved_token, timeout)

    def __repr__(self) -> str:
        return f'HubClient(url={self.url!r}, token={"set" if self._connection.token else None})'

    # ---- publishing ------------------------------------------------------------------------------

    def publish_servable(self, model: ServableDescription, wait: bool = True, progress: bool = True,
                         on_event: Optional[Callable[[Dict[str, Any]], None]] = None,
                         timeout: Optional[float] = None, interval: float = 0.5) -> Task:
        """Upload the model and its metadata, then follow the build step by step.

        Shows an upload progress bar (tqdm when installed) and prints each build step as it
        happens (``progress=False`` for silence; ``on_event`` receives ``{"kind": "upload" |
        "accepted" | "step" | "log" | "done", ...}`` either way). Returns the finished task; a
        failed build raises its HubError (``InvalidModelError``, ``InvalidMetadataError`` ...)
        with the task in ``.task``. ``wait=False`` returns the accepted task at once."""
        metadata = model.to_metadata()
        label = f'{metadata["hub"]["owner"]}/{metadata["hub"]["name"]}'
        bar = _Progress(progress, label)
        emit = on_event or (lambda event: None)
        files = model.files()
        if not files:
            raise ValueError('the servable has no files to upload: add one with add_file()')
        staging = None
        try:
            if all('/' not in inside for _, inside in files):
                parts = [('file', (inside, local, 'application/octet-stream')) for local, inside in files]
            else:
                # Sub-folders travel as one .tar.gz whose entries are the paths inside the servable.
                staging = tempfile.mkdtemp(prefix='modelhub-upload-')
                archive = os.path.join(staging, 'servable.tar.gz')
                with tarfile.open(archive, 'w:gz') as tar:
                    for local, inside in files:
                        tar.add(local, arcname=inside, recursive=False)
                parts = [('file', ('servable.tar.gz', archive, 'application/gzip'))]

            def on_progress(sent: int, total: int) -> None:
                bar.upload(sent, total)
                emit({'kind': 'upload', 'loaded': sent, 'total': total})

            body = MultipartBody([('metadata', json.dumps(metadata))] + parts, on_progress)
            try:
                accepted = self._connection.json('POST', '/servables', data=body, headers={
                    'content-type': body.content_type, 'content-length': str(body.total)})
            finally:
                body.close()
                bar.uploaded()
        finally:
            if staging:
                shutil.rmtree(staging, ignore_errors=True)
        emit({'kind': 'accepted', **accepted})
        bar.event('accepted', f'{accepted["servable"]}@{accepted["version"]} (task {accepted["task_id"]})')
        if not wait:
            return Task({'task_id': accepted['task_id'], 'kind': 'publish', 'status': 'PENDING',
                         'servable': accepted['servable'], 'version': accepted['version']}, self)
        return self.wait(accepted['task_id'], timeout=timeout, interval=interval, on_event=emit, progress=bar)

    # ---- running ---------------------------------------------------------------------------------

    def run(self, name: str, inputs: Any, version: Optional[int] = None, asynchronous: bool = False,
            endpoint: Optional[str] = None, parameters: Optional[Dict[str, Any]] = None,
            method: Optional[str] = None, details: bool = False) -> Any:
        """Run ``owner/name`` (or ``owner/name@version``) on ``inputs`` (numpy arrays are fine).

        Returns the output: a numpy array when numpy is installed and the output is numeric,
        else the JSON value. ``asynchronous=True`` returns the Task at once (``task.result()``
        waits). ``endpoint`` runs it on that compute endpoint (``owner/name``); ``details=True``
        returns the whole reply (output, timing, cached)."""
        body: Dict[str, Any] = {'inputs': to_jsonable(inputs)}
        if parameters:
            body['parameters'] = to_jsonable(parameters)
        if method:
            body['method'] = method
        if endpoint:
            body['endpoint'] = endpoint
        if asynchronous:
            body['asynchronous'] = True
        reply = self._connection.json('POST', f'{_servable_path(name, version)}/run', json_body=body)
        if asynchronous:
            return Task({'task_id': reply['task_id'], 'kind': 'run', 'status': 'PENDING'}, self)
        return RunResult(reply) if details else from_output(reply.get('output'))

    def get_task(self, task_id: str) -> Task:
        return Task(self._connection.json('GET', f'/tasks/{urllib.parse.quote(task_id)}'), self)

    # DLHub's name.
    get_task_status = get_task

    def wait(self, task_id: Union[str, Task], timeout: Optional[float] = None, interval: float = 0.5,
             raise_on_failure: bool = True, on_event: Optional[Callable[[Dict[str, Any]], None]] = None,
             progress: Any = None) -> Task:
        """Poll a task until it finishes, reporting each build step and log line as it appears.
        A FAILED task raises its HubError unless ``raise_on_failure=False``; past ``timeout``
        seconds, ClientTimeoutError."""
        task_id = task_id.task_id if isinstance(task_id, Task) else task_id
        emit = on_event or (lambda event: None)
        deadline = None if timeout is None else time.monotonic() + timeout
        seen_steps: Dict[str, str] = {}
        log_lines = 0
        while True:
            task = self.get_task(task_id)
            for step in task.steps:
                state = f'{step.get("status")}\0{step.get("message", "")}'
                if seen_steps.get(step['name']) != state:
                    seen_steps[step['name']] = state
                    emit({'kind': 'step', **step})
                    # Steps not started yet are left out of the printed progress, not of the events.
                    if progress and step.get('status') != 'PENDING':
                        progress.event('step', f'{step["name"]} {step.get("status")}' + (f' ({step["message"]})' if step.get('message') else ''))
            for line in (task.get('log') or [])[log_lines:]:
                emit({'kind': 'log', 'line': line})
            log_lines = len(task.get('log') or [])
            if task.done:
                emit({'kind': 'done', 'task': dict(task)})
                failure = task.error()
                if failure and raise_on_failure:
                    raise failure
                return task
            if deadline is not None and time.monotonic() + interval > deadline:
                raise ClientTimeoutError(f'task {task_id} is still {task.status} after {timeout} s', code=CLIENT_TIMEOUT,
                                         task=dict(task))
            time.sleep(interval)

    # ---- finding ---------------------------------------------------------------------------------

    def query(self) -> SearchQuery:
        """A SearchQuery bound to this hub: ``hub.query().match_domains('genomics').search()``,
        or iterate it for every hit across pages."""
        return SearchQuery(self)

    def search(self, text: Union[str, SearchQuery, None] = None, owner: Optional[str] = None,
               domain: Union[str, List[str], None] = None, author: Union[str, List[str], None] = None,
               type: Optional[str] = None, doi: Optional[str] = None, sort: Optional[str] = None,
               limit: Optional[int] = None, offset: Optional[int] = None, latest: Optional[bool] = None) -> SearchResults:
        """One page of hits (``.total``, ``.facets``, ``.next_page()``, ``.pages()``, ``.all()``)."""
        if isinstance(text, SearchQuery):
            query = text
        else:
            query = SearchQuery(self)
            if text:
                query.text(text)
            if owner:
                query.match_owner(owner)
            if domain:
                query.match_domains(domain)
            if author:
                query.match_authors(author)
            if type:
                query.match_type(type)
            if doi:
                query.match_doi(doi)
            if sort:
                query.sort_by(sort)
            if limit is not None:
                query.limit(limit)
            if offset is not None:
                query.offset(offset)
            if latest is not None:
                query.latest_only(latest)
        params = query.to_params()

        def fetch(at: int) -> SearchResults:
            page_params = {**params, 'offset': at}
            return SearchResults(self._connection.json('GET', '/search', query=page_params), fetch, at)

        return fetch(int(params.get('offset', 0)))

    def describe(self, name: str, version: Optional[int] = None) -> Servable:
        """The metadata document of ``owner/name`` (latest) or ``owner/name@version``."""
        return Servable(self._connection.json('GET', _servable_path(name, version)))

    def versions(self, name: str) -> List[Dict[str, Any]]:
        """Every version, newest first; withdrawn ones stay listed."""
        owner, short, _ = parse_name(name)
        reply = self._connection.json('GET', f'{_servable_path(f"{owner}/{short}")}/versions')
        return reply if isinstance(reply, list) else (reply.get('items') or reply.get('versions') or [])

    def list_servables(self, owner: Optional[str] = None, limit: Optional[int] = None,
                       page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every servable you may see, newest first, fetched page by page as you iterate."""
        cursor = None
        count = 0
        while True:
            size = min(page_size, limit - count) if limit is not None else page_size
            page = self._connection.json('GET', '/servables', query={'owner': owner, 'limit': size, 'cursor': cursor})
            for item in page.get('items', []):
                if limit is not None and count >= limit:
                    return
                count += 1
                yield item
            cursor = page.get('next_cursor')
            if not cursor or (limit is not None and count >= limit):
                return

    def cite(self, name: str, format: str = 'bibtex', version: Optional[int] = None) -> str:
        """The citation as text: bibtex, csl, ris, apa, datacite-xml or datacite-json."""
        if format not in CITATION_FORMATS:
            raise ValueError(f'{format!r} is not a citation format: use one of {", ".join(CITATION_FORMATS)}')
        return self._connection.request('GET', f'{_servable_path(name, version)}/citation', query={'format': format},
                                        accept='*/*').text()

    def withdraw(self, name: str, version: Optional[int] = None, reason: Optional[str] = None) -> Dict[str, Any]:
        """Withdraw every version (or one); identifiers keep resolving, to a tombstone."""
        reply = self._connection.request('DELETE', _servable_path(name, version), query={'reason': reason})
        return (reply.json() or {}) if reply.body else {}

    def resolve(self, identifier: str) -> Dict[str, Any]:
        """What an identifier (a DOI or the hub's own) names: a servable version or a tombstone."""
        return self._connection.json('GET', f'/identifiers/{urllib.parse.quote(identifier, safe="")}')

    def whoami(self) -> Dict[str, Any]:
        """Who the token belongs to (user, groups, scopes), as the hub sees it."""
        return self._connection.json('GET', '/whoami')

