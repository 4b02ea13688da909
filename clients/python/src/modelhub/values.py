"""JSON in and out: numpy arrays, numpy scalars and torch tensors become lists going to the hub;
numeric outputs come back as numpy arrays when numpy is installed."""

from __future__ import annotations

import math
from typing import Any

__all__ = ['to_jsonable', 'from_output']


def to_jsonable(value: Any) -> Any:
    """Nested lists and numbers from numpy/torch/pandas values; tuples and sets become lists."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    module = type(value).__module__ or ''
    if module.startswith('torch') and hasattr(value, 'detach'):
        return to_jsonable(value.detach().cpu().tolist())
    if module.startswith('pandas') and hasattr(value, 'to_numpy'):
        return to_jsonable(value.to_numpy().tolist())
    if hasattr(value, 'tolist'):
        return to_jsonable(value.tolist())
    if isinstance(value, bytes):
        return value.decode('utf-8', errors='replace')
    raise TypeError(f'a {type(value).__name__} cannot be sent as JSON')


def from_output(value: Any) -> Any:
    """A numeric (or boolean) nested list becomes a numpy array when numpy is installed; strings,
    ragged lists and objects stay as JSON gave them."""
    if not isinstance(value, list) or not value:
        return value
    try:
        import numpy as np
    except ImportError:
        return value
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # ragged
        return value
    return array if array.dtype.kind in 'biuf' else value
