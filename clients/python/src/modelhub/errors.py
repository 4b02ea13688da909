"""Errors the client raises.

Every reply of the hub that is not a success carries ``{"error": {"code": "MODELHUB_...",
"message", "details"}}``. The client turns it into a :class:`HubError` subclass chosen by that
stable code (``except NotFoundError`` catches every ``*_NOT_FOUND``), so scripts can branch on the
class and still read ``.code``, ``.status`` and ``.details``.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = [
    'HubError', 'ConnectionFailedError', 'ClientTimeoutError', 'BadRequestError', 'InvalidMetadataError',
    'InvalidModelError', 'UnauthenticatedError', 'ForbiddenError', 'NotFoundError', 'ServableNotFoundError',
    'VersionNotFoundError', 'TaskNotFoundError', 'WithdrawnError', 'ConflictError', 'PayloadTooLargeError',
    'InvalidInputsError', 'RateLimitedError', 'ServableFailedError', 'UnavailableError', 'error_from_reply',
    'error_for_code', 'CONNECTION_FAILED', 'CLIENT_TIMEOUT', 'HTTP_ERROR',
]

# Codes the client uses itself when no error document of the hub's came back (the TS SDK's too).
CONNECTION_FAILED = 'MODELHUB_CONNECTION_FAILED'
CLIENT_TIMEOUT = 'MODELHUB_CLIENT_TIMEOUT'
HTTP_ERROR = 'MODELHUB_HTTP_ERROR'


class HubError(Exception):
    """An error of the hub (or of reaching it). ``status`` is 0 when no reply came."""

    def __init__(self, message: str, code: str = HTTP_ERROR, status: int = 0, details: Any = None,
                 url: Optional[str] = None, request_id: Optional[str] = None, task: Optional[dict] = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details
        self.url = url
        self.request_id = request_id
        #: The finished task, when the error is that of a failed publish or asynchronous run.
        self.task = task

    def __str__(self) -> str:
        return f'{self.code}: {self.message}'

    def __repr__(self) -> str:
        return f'{type(self).__name__}(code={self.code!r}, status={self.status}, message={self.message!r})'


class ConnectionFailedError(HubError):
    """The hub could not be reached (refused, unknown host, reset)."""


class ClientTimeoutError(HubError):
    """Waiting for a task gave up before it finished."""


class BadRequestError(HubError):
    """400: the request is malformed."""


class InvalidMetadataError(BadRequestError):
    """400 MODELHUB_INVALID_METADATA: the metadata document does not fit the schema."""


class InvalidModelError(BadRequestError):
    """400 MODELHUB_INVALID_MODEL / INVALID_ARCHIVE: the uploaded files cannot be used."""


class UnauthenticatedError(HubError):
    """401: no token, or a token the hub does not accept."""


class ForbiddenError(HubError):
    """403: the token may not do this."""


class NotFoundError(HubError):
    """404: any ``MODELHUB_*_NOT_FOUND``."""


class ServableNotFoundError(NotFoundError):
    """404 MODELHUB_SERVABLE_NOT_FOUND."""


class VersionNotFoundError(NotFoundError):
    """404 MODELHUB_VERSION_NOT_FOUND."""


class TaskNotFoundError(NotFoundError):
    """404 MODELHUB_TASK_NOT_FOUND."""


class WithdrawnError(HubError):
    """410 MODELHUB_SERVABLE_WITHDRAWN."""


class ConflictError(HubError):
    """409."""


class PayloadTooLargeError(HubError):
    """413: the upload is larger than the hub accepts."""


class InvalidInputsError(HubError):
    """422 MODELHUB_INVALID_INPUTS: the inputs do not fit the servable's declared inputs."""


class RateLimitedError(HubError):
    """429: too many requests; ``details`` may say when to retry."""


class ServableFailedError(HubError):
    """500 MODELHUB_SERVABLE_FAILED: the model raised while running."""


class UnavailableError(HubError):
    """503: overloaded, not ready, or a runtime or backend the hub lacks."""


_BY_CODE = {
    'MODELHUB_INVALID_METADATA': InvalidMetadataError,
    'MODELHUB_INVALID_MODEL': InvalidModelError,
    'MODELHUB_INVALID_ARCHIVE': InvalidModelError,
    'MODELHUB_SERVABLE_NOT_FOUND': ServableNotFoundError,
    'MODELHUB_VERSION_NOT_FOUND': VersionNotFoundError,
    'MODELHUB_TASK_NOT_FOUND': TaskNotFoundError,
    'MODELHUB_SERVABLE_WITHDRAWN': WithdrawnError,
    'MODELHUB_INVALID_INPUTS': InvalidInputsError,
    'MODELHUB_SERVABLE_FAILED': ServableFailedError,
    CONNECTION_FAILED: ConnectionFailedError,
    CLIENT_TIMEOUT: ClientTimeoutError,
}

_BY_STATUS = {
    400: BadRequestError,
    401: UnauthenticatedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: WithdrawnError,
    413: PayloadTooLargeError,
    422: InvalidInputsError,
    429: RateLimitedError,
    503: UnavailableError,
}


def _class_for(code: str, status: int) -> type:
    if code in _BY_CODE:
        return _BY_CODE[code]
    if code.endswith('_NOT_FOUND'):
        return NotFoundError
    if code == 'MODELHUB_UNAUTHENTICATED':
        return UnauthenticatedError
    if code == 'MODELHUB_FORBIDDEN':
        return ForbiddenError
    return _BY_STATUS.get(status, HubError)


def error_for_code(code: str, message: str, status: int = 0, **extra: Any) -> HubError:
    """The HubError subclass for ``code`` (a task's error has a code but no HTTP status)."""
    return _class_for(code, status)(message, code=code, status=status, **extra)


def error_from_reply(status: int, body: bytes, url: str, request_id: Optional[str] = None) -> HubError:
    """Build the error for a non-2xx reply, whatever its body holds."""
    import json

    parsed: Any = None
    try:
        parsed = json.loads(body.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        pass
    error = parsed.get('error') if isinstance(parsed, dict) else None
    if isinstance(error, dict) and isinstance(error.get('code'), str):
        message = error.get('message') if isinstance(error.get('message'), str) else error['code']
        return error_for_code(error['code'], message, status, details=error.get('details'), url=url,
                              request_id=request_id)
    # The Open Inference Protocol answers {"error": "<message>"}; a proxy may answer HTML.
    if isinstance(error, str):
        message = error
    else:
        message = body.decode('utf-8', errors='replace').strip()[:500] or f'HTTP {status} from {url}'
    return _class_for(HTTP_ERROR, status)(message, code=HTTP_ERROR, status=status, url=url, request_id=request_id)
