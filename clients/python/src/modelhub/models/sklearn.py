"""A scikit-learn estimator described from the live object, as DLHub's ``ScikitLearnModel`` does:
saved with joblib (pickle when joblib is missing), with its features, classes and
``predict_proba`` read from it."""

from __future__ import annotations

import os
import pickle
from typing import Any, Dict, Optional, Sequence

from .base import ServableDescription

__all__ = ['SklearnModel']


def _dtype_name(dtype: Any) -> str:
    kind = getattr(dtype, 'kind', 'O')
    if kind == 'b':
        return 'bool'
    if kind in 'iuf':
        return f"{ {'i': 'int', 'u': 'uint', 'f': 'float'}[kind] }{dtype.itemsize * 8}"
    return 'string'


class SklearnModel(ServableDescription):
    servable_type = 'sklearn'

    @classmethod
    def create(cls, estimator: Any, serialization: str = 'joblib', n_features: Optional[int] = None,
               classes: Optional[Sequence[Any]] = None) -> 'SklearnModel':
        """Describe a fitted estimator. ``n_features`` and ``classes`` are read from it
        (``n_features_in_``, ``classes_``); give them only for estimators that lack those."""
        import numpy as np

        if not callable(getattr(estimator, 'predict', None)):
            raise TypeError(f'{type(estimator).__name__} has no predict method: is it a scikit-learn estimator?')
        n = getattr(estimator, 'n_features_in_', None)
        n = int(n) if n is not None else n_features
        found_classes = getattr(estimator, 'classes_', None)
        facts: Dict[str, Any] = {
            'estimator': f'{type(estimator).__module__}.{type(estimator).__qualname__}',
            'methods': [m for m in ('predict', 'predict_proba', 'decision_function', 'transform')
                        if callable(getattr(estimator, m, None))],
        }
        try:
            import sklearn

            facts['sklearn_version'] = sklearn.__version__
        except ImportError:
            pass
        if n is not None:
            facts['n_features_in'] = n
        names = getattr(estimator, 'feature_names_in_', None)
        if names is not None:
            facts['feature_names_in'] = [str(x) for x in names]
        if found_classes is not None:
            facts['classes'] = np.asarray(found_classes).tolist()
        run: Dict[str, Any] = {
            'input': {'type': 'ndarray', 'shape': [None, n], 'dtype': 'float64'} if n is not None else {'type': 'any'},
            'output': {'type': 'any'},
            'method_details': {'method_name': 'predict'},
        }
        methods: Dict[str, Any] = {'run': run}
        if n is not None:
            # One row of zeros through predict tells the output's dtype and shape, and proves it runs.
            sample = np.zeros((1, n))
            out = np.asarray(estimator.predict(sample))
            run['output'] = {'type': 'ndarray', 'shape': [None, *out.shape[1:]], 'dtype': _dtype_name(out.dtype)}
            if 'predict_proba' in facts['methods']:
                try:
                    proba = np.asarray(estimator.predict_proba(sample))
                    methods['predict_proba'] = {
                        'input': dict(run['input']),
                        'output': {'type': 'ndarray', 'shape': [None, *proba.shape[1:]], 'dtype': 'float64'},
                        'method_details': {'method_name': 'predict_proba'},
                        'description': 'class probabilities, one column per class in the order of classes_',
                    }
                except Exception:  # noqa: BLE001 - SVC(probability=False) has the method but refuses
                    facts['methods'].remove('predict_proba')
        runtime: Dict[str, Any] = {'serialization': serialization}
        if classes is not None or found_classes is not None:
            runtime['classes'] = list(classes) if classes is not None else facts['classes']
        model = cls({'type': 'sklearn', 'methods': methods, 'runtime': runtime})
        model.facts = facts
        model.estimator = estimator
        file_name = 'model.joblib' if serialization == 'joblib' else 'model.pkl'
        path = os.path.join(model._scratch(), file_name)
        if serialization == 'joblib':
            import joblib

            joblib.dump(estimator, path)
        elif serialization == 'pickle':
            with open(path, 'wb') as handle:
                pickle.dump(estimator, handle)
        else:
            raise ValueError(f'serialization is joblib or pickle, not {serialization!r}')
        model.servable['model_file'] = file_name
        model.requirements = [f'scikit-learn=={facts["sklearn_version"]}'] if 'sklearn_version' in facts else []
        return model.add_file(path, file_name)

    @classmethod
    def from_file(cls, path: str, n_features: Optional[int] = None, serialization: Optional[str] = None) -> 'SklearnModel':
        """Describe a saved estimator (pickle or joblib file), loading it here to read it."""
        if serialization is None:
            serialization = 'joblib' if path.endswith('.joblib') else 'pickle'
        if serialization == 'joblib':
            import joblib

            estimator = joblib.load(path)
        else:
            with open(path, 'rb') as handle:
                estimator = pickle.load(handle)
        return cls.create(estimator, serialization=serialization, n_features=n_features)
