"""DLHub compatibility: DLHub SDK's client and model classes on a modelhub.

Change ``dlhub_sdk`` to ``modelhub.dlhub`` in a script's imports and it runs against this hub:

    from modelhub.dlhub import DLHubClient                    # was: from dlhub_sdk.client import DLHubClient
    from modelhub.dlhub.models.servables.python import PythonStaticMethodModel

``import_servable_document`` turns a DLHub servable document (dlhub_schemas' ``servable`` JSON)
into a description this hub publishes (also ``modelhub import-dlhub doc.json [files...]``).
"""

from .client import DLHubClient, DLHubFuture, to_hub_name
from .importer import convert_document, import_servable_document
from .models import (KerasModel, PythonClassMethodModel, PythonStaticMethodModel, ScikitLearnModel, TensorFlowModel,
                     TorchModel)

__all__ = ['DLHubClient', 'DLHubFuture', 'to_hub_name', 'import_servable_document', 'convert_document',
           'ScikitLearnModel', 'PythonStaticMethodModel', 'PythonClassMethodModel', 'TorchModel', 'KerasModel',
           'TensorFlowModel']
