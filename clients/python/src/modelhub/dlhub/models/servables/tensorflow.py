"""DLHub SDK's dlhub_sdk.models.servables.tensorflow, on modelhub."""

from .. import TensorFlowModel

__all__ = ['TensorFlowModel']
