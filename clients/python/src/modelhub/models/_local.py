"""``test_locally``: run a description from the files it will upload, in this process, the way
the hub's Python worker runs them (same spec keys, same call conventions), so a packaging
mistake (a helper not shipped, a global that does not pickle) shows before publishing."""

from __future__ import annotations

import importlib.util
import os
import pickle
import shutil
import sys
import tempfile
import uuid
from typing import Any, Dict

from ..values import to_jsonable


def _stage(description: Any, folder: str) -> None:
    for local, inside in description.files():
        target = os.path.join(folder, *inside.split('/'))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(local, target)


def _import_from(folder: str, module_file: str) -> Any:
    # A name of its own, so two local runs (or the caller's modules) never share a module.
    name = f'_modelhub_local_{uuid.uuid4().hex}'
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, module_file))
    if spec is None or spec.loader is None:
        raise ImportError(f'cannot import {module_file}')
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module


def _apply(fn: Any, item: Any, parameters: Dict[str, Any], unpack: bool) -> Any:
    if unpack and isinstance(item, dict):
        return fn(**item, **parameters)
    if unpack and isinstance(item, (list, tuple)):
        return fn(*item, **parameters)
    return fn(item, **parameters)


def run_from_files(description: Any, inputs: Any, method: str = 'run', parameters: Dict[str, Any] = None) -> Any:
    parameters = parameters or {}
    servable = description.servable
    kind = servable['type']
    details = servable['methods'].get(method)
    if details is None:
        raise ValueError(f'the servable has no method {method}; it has {", ".join(servable["methods"])}')
    inputs = to_jsonable(inputs)  # what crosses the wire is JSON
    folder = tempfile.mkdtemp(prefix='modelhub-local-')
    try:
        _stage(description, folder)
        if kind == 'sklearn':
            import numpy as np

            path = os.path.join(folder, servable['model_file'])
            if servable.get('runtime', {}).get('serialization') == 'pickle':
                with open(path, 'rb') as handle:
                    estimator = pickle.load(handle)
            else:
                import joblib

                estimator = joblib.load(path)
            name = (details.get('method_details') or {}).get('method_name') or ('predict' if method == 'run' else method)
            return to_jsonable(getattr(estimator, name)(np.asarray(inputs), **parameters))
        if kind == 'torch':
            import torch

            module = torch.jit.load(os.path.join(folder, servable['model_file']), map_location='cpu')
            module.eval()
            dtype = details['input'].get('dtype', 'float32') if details['input'].get('type') == 'ndarray' else 'float32'
            with torch.no_grad():
                return to_jsonable(module(torch.as_tensor(inputs, dtype=getattr(torch, dtype)), **parameters))
        if kind == 'python':
            python = servable['python']
            module_name = python['module']
            if module_name.endswith('.py'):
                module = _import_from(folder, module_name)
            else:
                module = importlib.import_module(module_name)
            if python.get('class_name'):
                target = getattr(module, python['class_name'])(**(python.get('init_args') or {}))
                fn = getattr(target, python.get('method') or 'run')
            else:
                fn = getattr(module, python['function'])
            options = servable.get('options') or {}
            unpack = bool(options.get('unpack_inputs'))
            if options.get('autobatch'):
                return to_jsonable([_apply(fn, item, parameters, unpack) for item in inputs])
            return to_jsonable(_apply(fn, inputs, parameters, unpack))
        raise NotImplementedError(f'test_locally runs sklearn, torch and python servables; a {kind} model runs on the hub')
    finally:
        shutil.rmtree(folder, ignore_errors=True)
