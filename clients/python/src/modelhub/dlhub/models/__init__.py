"""DLHub SDK's model classes under their DLHub names, with their ``create_model`` arguments, built
on this package's descriptions. Where a DLHub option has no equivalent here, it raises
NotImplementedError naming it."""

from __future__ import annotations

import importlib
import os
import pickle
from typing import Any, Dict, List, Optional, Sequence

from ...models.base import ServableDescription
from ...models.files import KerasModel as _KerasModel
from ...models.python import PythonClassMethod, PythonFunction
from ...models.sklearn import SklearnModel
from ...models.torch import TorchModel as _TorchModel

__all__ = ['ScikitLearnModel', 'PythonStaticMethodModel', 'PythonClassMethodModel', 'TorchModel', 'KerasModel',
           'TensorFlowModel', 'DLHubVisibility']


class DLHubVisibility:
    """DLHub's ``set_visibility(users=[...], groups=[...])``: Globus identities and groups do not
    exist here, so the servable becomes private to its owner and the names are kept only if they
    are this hub's user and group names."""

    def set_visibility(self, users: Optional[Sequence[str]] = None, groups: Optional[Sequence[str]] = None) -> Any:
        if users is None and groups is None:
            return ServableDescription.set_visibility(self, 'public')  # type: ignore[arg-type]
        local_users = [u for u in users or [] if not str(u).startswith('urn:')]
        local_groups = [g for g in groups or [] if not str(g).startswith('urn:')]
        if len(local_users) != len(users or []) or len(local_groups) != len(groups or []):
            raise NotImplementedError('sharing with Globus identities or groups (urn:globus:...) has no equivalent on '
                                      'modelhub: name this hub\'s users and groups instead')
        return ServableDescription.set_visibility(self, 'private', local_users, local_groups)  # type: ignore[arg-type]


def _no_function_kwargs(function_kwargs: Optional[Dict[str, Any]]) -> None:
    if function_kwargs:
        raise NotImplementedError('function_kwargs (keyword arguments fixed when publishing) have no equivalent on '
                                  'modelhub: pass them at each call, run(name, inputs, parameters={...})')


class ScikitLearnModel(DLHubVisibility, SklearnModel):
    @classmethod
    def create_model(cls, path: str, n_input_columns: int, classes: Any = None,
                     serialization_method: str = 'pickle') -> 'ScikitLearnModel':
        """As DLHub: for a classifier (``classes`` given), ``run`` returns the class probabilities
        (``predict_proba``); otherwise ``predict``. ``classes`` (a count or names) only describe
        the output: the hub reads the labels from the estimator's ``classes_``."""
        model = cls.from_file(path, n_features=n_input_columns, serialization=serialization_method)
        proba = model.servable['methods'].get('predict_proba')
        if classes is not None and proba is not None:
            names = list(range(classes)) if isinstance(classes, int) else [str(c) for c in classes]
            run = dict(proba)
            run['output'] = dict(proba['output'], description=f'Probabilities for membership in each of {len(names)} classes')
            model.servable['methods']['run'] = run
        return model  # type: ignore[return-value]


class PythonStaticMethodModel(DLHubVisibility, PythonFunction):
    @classmethod
    def create_model(cls, module: str, method: str, autobatch: bool = False,
                     function_kwargs: Optional[Dict[str, Any]] = None, auto_inspect: bool = False) -> 'PythonStaticMethodModel':
        _no_function_kwargs(function_kwargs)
        fn = getattr(importlib.import_module(module), method)
        return cls.create(fn, autobatch=autobatch)  # type: ignore[return-value]

    @classmethod
    def from_function_pointer(cls, function: Any, autobatch: bool = False,
                              function_kwargs: Optional[Dict[str, Any]] = None) -> 'PythonStaticMethodModel':
        _no_function_kwargs(function_kwargs)
        return cls.create(function, autobatch=autobatch)  # type: ignore[return-value]


class PythonClassMethodModel(DLHubVisibility, PythonClassMethod):
    @classmethod
    def create_model(cls, path: str, method: str, function_kwargs: Optional[Dict[str, Any]] = None,
                     auto_inspect: bool = False) -> 'PythonClassMethodModel':
        _no_function_kwargs(function_kwargs)
        with open(path, 'rb') as handle:
            obj = pickle.load(handle)
        return cls.create(obj, method)  # type: ignore[return-value]


class TorchModel(DLHubVisibility, _TorchModel):
    @classmethod
    def create_model(cls, model_path: str, input_shape: Sequence[Optional[int]], output_shape: Any = None,
                     input_type: str = 'float', output_type: str = 'float') -> 'TorchModel':
        """A TorchScript file is used as it is; a whole module saved with ``torch.save`` (DLHub's
        format) is loaded here and traced with zeros of ``input_shape`` into TorchScript."""
        import torch

        dtype = {'float': torch.float32, 'double': torch.float64, 'int': torch.int64, 'long': torch.int64}.get(input_type, torch.float32)
        shape = list(input_shape) if isinstance(input_shape, (list, tuple)) else [input_shape]
        example = torch.zeros([1 if d is None else d for d in shape], dtype=dtype)
        try:
            module = torch.jit.load(model_path, map_location='cpu')
        except RuntimeError:
            module = torch.load(model_path, map_location='cpu')
        return cls.create(module, example, input_shape=shape)  # type: ignore[return-value]


class KerasModel(DLHubVisibility, _KerasModel):
    @classmethod
    def create_model(cls, model_path: str, output_names: Optional[List[Any]] = None, arch_path: Optional[str] = None,
                     custom_objects: Optional[Dict[str, Any]] = None, force_tf_keras: bool = False) -> 'KerasModel':
        if custom_objects:
            raise NotImplementedError('Keras custom_objects (layers defined in Python) have no equivalent on modelhub: '
                                      'the hub rebuilds models from built-in layers only')
        if arch_path:
            raise NotImplementedError('a separate Keras architecture file (arch_path): save the whole model to one .h5')
        return cls.create(model_path)  # type: ignore[return-value]


class TensorFlowModel(DLHubVisibility, ServableDescription):
    servable_type = 'tf-savedmodel'

    @classmethod
    def create_model(cls, export_directory: str) -> 'TensorFlowModel':
        if not os.path.isdir(export_directory):
            raise NotADirectoryError(export_directory)
        model = cls({'type': 'tf-savedmodel', 'methods': {'run': {'input': {'type': 'any'}, 'output': {'type': 'any'}}}})
        return model.add_directory(export_directory)  # type: ignore[return-value]
