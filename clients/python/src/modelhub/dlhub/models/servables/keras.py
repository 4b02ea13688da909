"""DLHub SDK's dlhub_sdk.models.servables.keras, on modelhub."""

from .. import KerasModel

__all__ = ['KerasModel']
