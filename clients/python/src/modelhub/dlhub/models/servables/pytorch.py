"""DLHub SDK's dlhub_sdk.models.servables.pytorch, on modelhub."""

from .. import TorchModel

__all__ = ['TorchModel']
