"""modelhub: publish, find, cite and run scientific models from Python.

    from modelhub import HubClient, SklearnModel
    hub = HubClient()                      # $MODELHUB_URL / $MODELHUB_TOKEN or `modelhub login`
    model = SklearnModel.create(estimator).set_name('alice/iris').set_title('Iris').set_authors(['Curie, Marie'])
    hub.publish_servable(model)
    hub.run('alice/iris', [[5.1, 3.5, 1.4, 0.2]])

DLHub users: ``from modelhub.dlhub import DLHubClient``.
"""

from .client import CITATION_FORMATS, HubClient, parse_name
from .documents import RunResult, SearchResults, Servable, Task
from .errors import (BadRequestError, ClientTimeoutError, ConflictError, ConnectionFailedError, ForbiddenError,
                     HubError, InvalidInputsError, InvalidMetadataError, InvalidModelError, NotFoundError,
                     PayloadTooLargeError, RateLimitedError, ServableFailedError, ServableNotFoundError,
                     TaskNotFoundError, UnauthenticatedError, UnavailableError, VersionNotFoundError, WithdrawnError)
from .models import (KerasModel, MetadataError, OnnxModel, PythonClassMethod, PythonFunction, ServableDescription,
                     SklearnModel, TorchModel, argument_type)
from .search import SearchQuery

__version__ = '0.1.0'

__all__ = [
    'HubClient', 'SearchQuery', 'Servable', 'Task', 'SearchResults', 'RunResult', 'parse_name', 'CITATION_FORMATS',
    'ServableDescription', 'SklearnModel', 'TorchModel', 'PythonFunction', 'PythonClassMethod', 'KerasModel',
    'OnnxModel', 'MetadataError', 'argument_type',
    'HubError', 'BadRequestError', 'InvalidMetadataError', 'InvalidModelError', 'UnauthenticatedError',
    'ForbiddenError', 'NotFoundError', 'ServableNotFoundError', 'VersionNotFoundError', 'TaskNotFoundError',
    'WithdrawnError', 'ConflictError', 'PayloadTooLargeError', 'InvalidInputsError', 'RateLimitedError',
    'ServableFailedError', 'UnavailableError', 'ConnectionFailedError', 'ClientTimeoutError',
]
