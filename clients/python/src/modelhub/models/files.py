"""Models described from a file the hub reads itself: Keras (.h5 / .keras) and ONNX. The hub
inspects the file at publish time and fills in the inputs and outputs."""

from __future__ import annotations

import os
from typing import Optional

from .base import ServableDescription

__all__ = ['KerasModel', 'OnnxModel']


class _FileModel(ServableDescription):
    suffixes: tuple = ()

    @classmethod
    def create(cls, path: str, model_file: Optional[str] = None):
        if not os.path.exists(path):
            raise FileNotFoundError(path)
        if cls.suffixes and not path.lower().endswith(cls.suffixes):
            raise ValueError(f'{path} does not look like a {cls.servable_type} model ({", ".join(cls.suffixes)})')
        name = model_file or os.path.basename(path)
        model = cls({'type': cls.servable_type, 'model_file': name,
                     'methods': {'run': {'input': {'type': 'any'}, 'output': {'type': 'any'}}}})
        return model.add_file(path, name)


class KerasModel(_FileModel):
    """A Keras model file (HDF5 ``.h5`` or a Keras 3 ``.keras`` archive)."""

    servable_type = 'keras'
    suffixes = ('.h5', '.hdf5', '.keras')


class OnnxModel(_FileModel):
    """An ONNX model file."""

    servable_type = 'onnx'
    suffixes = ('.onnx',)
