"""Models described from live objects, published to a real hub, run there, and compared with
what the object itself computes here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression

from modelhub import PythonClassMethod, PythonFunction, SklearnModel, TorchModel

AUTHORS = ['Curie, Marie']

# Read by `polynomial` below: a global value that must travel (pickled) with the function.
COEFFICIENTS = np.array([0.5, -2.0, 1.0])


def _evaluate(x: float) -> float:
    return float(np.polyval(COEFFICIENTS, x))


def polynomial(values: list) -> list:
    """Evaluates 0.5 x^2 - 2 x + 1 at each value."""
    return [_evaluate(v) + math.floor(0.0) for v in values]


class Scaler:
    def __init__(self, factor):
        self.factor = factor
        self.offsets = np.arange(3.0)

    def transform(self, rows):
        return (np.asarray(rows) * self.factor + self.offsets).tolist()


def test_sklearn_classifier_from_the_live_estimator(client):
    X, y = load_iris(return_X_y=True)
    estimator = LogisticRegression(max_iter=1000).fit(X, y)
    model = SklearnModel.create(estimator).set_name('alice/iris-logreg').set_title('Iris').set_authors(AUTHORS)
    assert model.facts['n_features_in'] == 4 and model.facts['classes'] == [0, 1, 2]
    assert model.servable['methods']['run']['input'] == {'type': 'ndarray', 'shape': [None, 4], 'dtype': 'float64'}
    assert 'predict_proba' in model.servable['methods']
    assert model.test_locally(X[:5]) == estimator.predict(X[:5]).tolist()

    events = []
    task = client.publish_servable(model, progress=False, on_event=events.append)
    assert task.status == 'SUCCEEDED'
    kinds = [e['kind'] for e in events]
    assert kinds[0] == 'upload' and 'accepted' in kinds and kinds[-1] == 'done'
    assert any(e['kind'] == 'step' and e['status'] == 'SUCCEEDED' for e in events)

    predicted = client.run('alice/iris-logreg', X[:20])
    assert isinstance(predicted, np.ndarray)
    np.testing.assert_array_equal(predicted, estimator.predict(X[:20]))
    proba = client.run('alice/iris-logreg', X[:20], method='predict_proba')
    np.testing.assert_allclose(proba, estimator.predict_proba(X[:20]), rtol=1e-12)


def test_sklearn_regressor_saved_with_pickle(client):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 3))
    y = X @ np.array([1.5, -2.0, 0.5])
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    model = SklearnModel.create(forest, serialization='pickle').set_name('alice/forest').set_title('Forest').set_authors(AUTHORS)
    assert model.files()[0][1] == 'model.pkl'
    client.publish_servable(model, progress=False)
    np.testing.assert_allclose(client.run('alice/forest', X[:7]), forest.predict(X[:7]), rtol=1e-12)


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x):
        return torch.softmax(torch.relu(self.linear(x)) * 2.0, dim=1)


class Clamp(torch.nn.Module):
    def forward(self, x):
        if bool(x.sum() > 0):  # data-dependent control flow: needs torch.jit.script
            return torch.clamp(x, 0.0, 1.0)
        return -x


@pytest.mark.parametrize('method', ['trace', 'script'])
def test_torchscript_module(client, method):
    module = TinyNet().eval() if method == 'trace' else Clamp()
    example = torch.rand(2, 4)
    model = TorchModel.create(module, example, method=method).set_name(f'alice/torch-{method}').set_title('Torch').set_authors(AUTHORS)
    assert model.servable['methods']['run']['input'] == {'type': 'ndarray', 'shape': [None, 4], 'dtype': 'float32'}
    inputs = torch.rand(5, 4)
    expected = module(inputs).detach().numpy()
    np.testing.assert_allclose(model.test_locally(inputs), expected, rtol=1e-6)
    client.publish_servable(model, progress=False)
    out = client.run(f'alice/torch-{method}', inputs.numpy())
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-7)
    if method == 'script':
        np.testing.assert_allclose(client.run('alice/torch-script', -inputs.numpy()), Clamp()(-inputs).numpy())


def test_python_function_with_helpers_and_globals(client):
    model = PythonFunction.create(polynomial).set_name('alice/polynomial').set_title('Polynomial').set_authors(AUTHORS)
    files = dict((inside, local) for local, inside in model.files())
    assert set(files) == {'modelhub_servable.py', 'modelhub_state.pkl', 'requirements.txt'}
    source = open(files['modelhub_servable.py']).read()
    assert 'import math' in source and 'import numpy as np' in source and 'def _evaluate' in source
    assert any(r.startswith('numpy==') for r in model.requirements)
    assert model.servable['methods']['run']['input'] == {'type': 'list', 'item_type': {'type': 'any'}}
    values = [0.0, 1.0, 2.5, -3.0]
    assert model.test_locally(values) == polynomial(values)
    client.publish_servable(model, progress=False)
    np.testing.assert_allclose(client.run('alice/polynomial', values), polynomial(values))


def test_library_function_is_referenced_by_module(client):
    model = PythonFunction.create(math.sqrt, autobatch=True).set_name('alice/sqrt').set_title('Square root').set_authors(AUTHORS)
    assert model.servable['python'] == {'module': 'math', 'function': 'sqrt'}
    client.publish_servable(model, progress=False)
    np.testing.assert_allclose(client.run('alice/sqrt', [4, 2]), [2.0, math.sqrt(2)])


def test_class_method_of_a_live_object(client):
    scaler = Scaler(10.0)
    model = PythonClassMethod.create(scaler, 'transform').set_name('alice/scaler').set_title('Scaler').set_authors(AUTHORS)
    rows = [[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]]
    assert model.test_locally(rows) == scaler.transform(rows)
    client.publish_servable(model, progress=False)
    np.testing.assert_allclose(client.run('alice/scaler', rows), scaler.transform(rows))


def test_library_object_method_is_pickled_whole(client):
    X, y = load_iris(return_X_y=True)
    estimator = LogisticRegression(max_iter=1000).fit(X, y)
    model = PythonClassMethod.create(estimator, 'decision_function').set_name('alice/iris-decision').set_title('Decision').set_authors(AUTHORS)
    client.publish_servable(model, progress=False)
    np.testing.assert_allclose(client.run('alice/iris-decision', X[:4]), estimator.decision_function(X[:4]), rtol=1e-12)


def test_helpers_from_a_sibling_module_travel_with_the_function(client, tmp_path, monkeypatch):
    (tmp_path / 'unit_helpers.py').write_text('import math\n\nOFFSET = 0.5\n\n\ndef shifted_root(x):\n    return math.sqrt(x) + OFFSET\n')
    (tmp_path / 'unit_analysis.py').write_text(
        'from unit_helpers import shifted_root as root\n\n\ndef analyse(values: list) -> list:\n    return [root(v) for v in values]\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    import unit_analysis

    model = PythonFunction.create(unit_analysis.analyse).set_name('alice/analyse').set_title('Analyse').set_authors(AUTHORS)
    source = open(dict((inside, local) for local, inside in model.files())['modelhub_servable.py']).read()
    assert 'def shifted_root' in source and 'root = shifted_root' in source and 'unit_helpers' not in source.split('"""', 2)[2]
    client.publish_servable(model, progress=False)  # the hub has no unit_helpers module: the source travelled
    assert client.run('alice/analyse', [4, 9]).tolist() == [2.5, 3.5]
