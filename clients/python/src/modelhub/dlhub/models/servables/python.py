"""DLHub SDK's dlhub_sdk.models.servables.python, on modelhub."""

from .. import PythonStaticMethodModel, PythonClassMethodModel

__all__ = ['PythonStaticMethodModel', 'PythonClassMethodModel']
