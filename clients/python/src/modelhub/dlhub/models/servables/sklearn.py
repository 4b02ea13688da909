"""DLHub SDK's dlhub_sdk.models.servables.sklearn, on modelhub."""

from .. import ScikitLearnModel

__all__ = ['ScikitLearnModel']
