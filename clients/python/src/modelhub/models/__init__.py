"""Descriptions of servables, made from live objects or model files."""

from .base import MetadataError, ServableDescription, argument_type
from .files import KerasModel, OnnxModel
from .python import PythonClassMethod, PythonFunction
from .sklearn import SklearnModel
from .torch import TorchModel

__all__ = ['ServableDescription', 'MetadataError', 'argument_type', 'SklearnModel', 'TorchModel', 'PythonFunction',
           'PythonClassMethod', 'KerasModel', 'OnnxModel']
