"""HTTP with the standard library only: where the hub is, the token, JSON requests, and a
streamed multipart upload that reports its progress. Non-2xx replies become HubError subclasses.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, BinaryIO, Callable, Iterable, List, Mapping, Optional, Tuple, Union

from .errors import CONNECTION_FAILED, ConnectionFailedError, error_from_reply

API_PREFIX = '/api/v1'
DEFAULT_HUB_URL = 'http://127.0.0.1:8700'
USER_AGENT = 'modelhub-python/0.1.0'


def saved_login_path(env: Mapping[str, str] = os.environ) -> str:
    """Where ``modelhub login`` (the CLI) keeps the hub URL and token: the same file as the TS SDK's."""
    if env.get('MODELHUB_CONFIG'):
        return os.path.abspath(env['MODELHUB_CONFIG'])
    base = env.get('XDG_CONFIG_HOME') or os.path.join(os.path.expanduser('~'), '.config')
    return os.path.join(base, 'modelhub', 'config.json')


def read_saved_login(env: Mapping[str, str] = os.environ) -> dict:
    try:
        with open(saved_login_path(env), encoding='utf-8') as handle:
            saved = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise RuntimeError(f'cannot read the saved login at {saved_login_path(env)}: {error}') from error
    return {k: v for k, v in saved.items() if k in ('url', 'token') and isinstance(v, str)} if isinstance(saved, dict) else {}


def resolve_connection(url: Optional[str] = None, token: Optional[str] = None,
                       env: Mapping[str, str] = os.environ) -> Tuple[str, Optional[str]]:
    """Explicit arguments, then MODELHUB_URL / MODELHUB_TOKEN, then the CLI's saved login, then the
    local default. A saved token is only sent to the URL it was saved for."""
    saved = read_saved_login(env)
    resolved = (url or env.get('MODELHUB_URL') or saved.get('url') or DEFAULT_HUB_URL).rstrip('/')
    saved_url = (saved.get('url') or DEFAULT_HUB_URL).rstrip('/')
    resolved_token = token or env.get('MODELHUB_TOKEN') or (saved.get('token') if saved_url == resolved else None)
    return resolved, resolved_token or None


class Reply:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body.decode('utf-8')) if self.body else None

    def text(self) -> str:
        return self.body.decode('utf-8')


class Connection:
    """One hub: base URL, token, timeout. ``request`` raises HubError subclasses on failure."""

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 300.0):
        self.url = url.rstrip('/')
        self.token = token
        self.timeout = timeout

    def api_url(self, path: str, query: Optional[Mapping[str, Any]] = None) -> str:
        search = ''
        if query:
            pairs = [(k, _query_value(v)) for k, v in query.items() if v is not None]
            if pairs:
                search = '?' + urllib.parse.urlencode(pairs)
        return f'{self.url}{API_PREFIX}{path}{search}'

    def request(self, method: str, path: str, *, query: Optional[Mapping[str, Any]] = None, json_body: Any = None,
                data: Union[bytes, BinaryIO, None] = None, headers: Optional[Mapping[str, str]] = None,
                accept: str = 'application/json') -> Reply:
        url = self.api_url(path, query)
        all_headers = {'accept': accept, 'user-agent': USER_AGENT}
        if self.token:
            all_headers['authorization'] = f'Bearer {self.token}'
        if json_body is not None:
            data = json.dumps(json_body).encode('utf-8')
            all_headers['content-type'] = 'application/json'
        all_headers.update(headers or {})
        request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Reply(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as error:
            body = error.read() if error.fp is not None else b''
            raise error_from_reply(error.code, body, url, error.headers.get('x-request-id') if error.headers else None) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, 'reason', error)
            raise ConnectionFailedError(f'Cannot reach the hub at {url}: {reason}', code=CONNECTION_FAILED, status=0,
                                        url=url) from error

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


class MultipartBody:
    """A multipart/form-data body read in chunks, so large model files stream from disk.

    ``parts`` are ``(field, value)`` for text fields and ``(field, (filename, path, content_type))``
    for files. ``on_progress(sent, total)`` is called as the body is read by the HTTP client.
    """

    CHUNK = 256 * 1024

    def __init__(self, parts: Iterable[Tuple[str, Union[str, Tuple[str, str, str]]]],
                 on_progress: Optional[Callable[[int, int], None]] = None):
        self.boundary = f'modelhub-{uuid.uuid4().hex}'
        self.segments: List[Union[bytes, str]] = []  # bytes, or a file path to stream
        for field, value in parts:
            if isinstance(value, str):
                self.segments.append(
                    f'--{self.boundary}\r\ncontent-disposition: form-data; name="{field}"\r\n\r\n'.encode('utf-8')
                    + value.encode('utf-8') + b'\r\n')
            else:
                filename, path, content_type = value
                quoted = filename.replace('\\', '\\\\').replace('"', '\\"')
                self.segments.append(
                    (f'--{self.boundary}\r\ncontent-disposition: form-data; name="{field}"; filename="{quoted}"\r\n'
                     f'content-type: {content_type}\r\n\r\n').encode('utf-8'))
                self.segments.append(path)
                self.segments.append(b'\r\n')
        self.segments.append(f'--{self.boundary}--\r\n'.encode('utf-8'))
        self.total = sum(len(s) if isinstance(s, bytes) else os.path.getsize(s) for s in self.segments)
        self.sent = 0
        self.on_progress = on_progress
        self._index = 0
        self._open: Optional[BinaryIO] = None

    @property
    def content_type(self) -> str:
        return f'multipart/form-data; boundary={self.boundary}'

    def read(self, size: int = -1) -> bytes:
        limit = self.CHUNK if size is None or size < 0 else size
        while self._index < len(self.segments):
            segment = self.segments[self._index]
            if isinstance(segment, bytes):
                self._index += 1
                return self._count(segment)
            if self._open is None:
                self._open = open(segment, 'rb')
            chunk = self._open.read(limit)
            if chunk:
                return self._count(chunk)
            self._open.close()
            self._open = None
            self._index += 1
        return b''

    def _count(self, chunk: bytes) -> bytes:
        self.sent += len(chunk)
        if self.on_progress:
            self.on_progress(self.sent, self.total)
        return chunk

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None
