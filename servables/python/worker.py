"""A long-lived Python worker for modelhub's python, sklearn and torch servables.

Run as a script it serves requests over stdio: each frame is a 4-byte big-endian length followed
by that many bytes of UTF-8 JSON. File descriptor 1 is kept for frames only; anything the servable
prints (from Python or from C extensions) goes to stderr, which the hub forwards to its log.

Requests are {"id", "op", ...}:
  load     {"spec"}                          -> {"dependencies", "rss_bytes", "warnings"}
  inspect  {"spec"}                          -> facts about the files (see inspect_servable)
  call     {"method", "inputs", "parameters"} -> the servable's output, made JSON-safe
  ping                                       -> {"pid"}
  shutdown                                   -> {} and the worker exits
Replies are {"id", "ok": true, "output"} or {"id", "ok": false, "error": {type, message, traceback,
stage}}; `stage` says whether the servable's files (import, model, init), its declaration
(lookup, declaration) or a call failed, so the hub can answer INVALID_MODEL, INVALID_METADATA or
SERVABLE_FAILED.

Imported as a module it exposes load_servable, call_servable and inspect_servable, which the
container runner's HTTP server uses with the same spec dictionaries, and die_with_parent.

A worker dies with the hub that started it, even one killed with SIGKILL (see die_with_parent):
otherwise it would be re-parented to init, keep its memory, and pile up across restarts.

A spec is a dict:
  kind          "python" | "sklearn" | "torch"
  files_dir     folder holding the servable's files (put first on sys.path for python servables)
  module        python: a module name ("pkg.mod") or a file path relative to files_dir ("src/f.py")
  function      python: the function `run` calls
  class_name    python: a class instantiated once at load with init_args (dict, keyword arguments)
  method        python class: the method `run` calls (default "run"); sklearn: default "predict"
  model_file    sklearn/torch: path of the model relative to files_dir (or absolute)
  serialization sklearn: "pickle" | "joblib" (default: joblib's loader, which reads both)
  methods       optional {hub method name: python attribute name} for methods other than run
  unpack_inputs spread a dict of inputs as keyword arguments, a list as positional arguments
  autobatch     the callable takes one item: map it over the list of inputs
  input_dtype   torch: dtype of input tensors (a name, a list of names, or a dict of names)
  input_shape   torch/sklearn: declared input shape (null for dynamic dimensions), for the warm-up
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect as pyinspect
import json
import math
import os
import pickle
import struct
import sys
import traceback
import warnings

__all__ = ['load_servable', 'call_servable', 'inspect_servable', 'dependencies', 'to_jsonable', 'ServableError', 'die_with_parent']


# Modules the interpreter had before any servable was imported: not the servable's dependencies.
_BASELINE_MODULES = frozenset(sys.modules)


class ServableError(Exception):
    """An error with the stage it happened in (import, model, init, lookup, declaration, call)."""

    def __init__(self, stage: str, error: BaseException):
        super().__init__(f'{type(error).__name__}: {error}')
        self.stage = stage
        self.error = error


class Loaded:
    """A loaded servable: the object `run` calls and how to call it."""

    def __init__(self, spec: dict, target, run_name: str | None, kind: str):
        self.spec = spec
        self.target = target  # the function, the class instance, the estimator or the module
        self.run_name = run_name  # attribute of target that `run` calls; None: target itself
        self.kind = kind
        self.warnings: list[str] = []


# ---------------------------------------------------------------------------------------------
# Loading


def _files_dir(spec: dict) -> str:
    return os.path.abspath(spec.get('files_dir') or '.')


def _model_path(spec: dict) -> str:
    model_file = spec.get('model_file')
    if not model_file:
        raise ServableError('declaration', ValueError('no model_file was given'))
    path = model_file if os.path.isabs(model_file) else os.path.join(_files_dir(spec), model_file)
    if not os.path.isfile(path):
        raise ServableError('declaration', FileNotFoundError(f'model file {model_file} is not among the files'))
    return path


def _import_user_module(spec: dict):
    module = spec.get('module')
    if not module:
        raise ServableError('declaration', ValueError('no module was given'))
    files_dir = _files_dir(spec)
    if files_dir not in sys.path:
        sys.path.insert(0, files_dir)
    try:
        if module.endswith('.py') or os.sep in module or '/' in module:
            path = module if os.path.isabs(module) else os.path.join(files_dir, module)
            if not os.path.isfile(path):
                raise FileNotFoundError(f'module file {module} is not among the files')
            # Its own folder too, so that sibling modules import as they did on the author's machine.
            folder = os.path.dirname(os.path.abspath(path))
            if folder not in sys.path:
                sys.path.insert(0, folder)
            name = os.path.splitext(os.path.basename(path))[0]
            module_spec = importlib.util.spec_from_file_location(name, path)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f'cannot import {module}')
            loaded = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = loaded
            module_spec.loader.exec_module(loaded)
            return loaded
        return importlib.import_module(module)
    except ServableError:
        raise
    except BaseException as error:  # noqa: BLE001 - a SystemExit in user code is still a bad module
        raise ServableError('import', error) from error


def _lookup(obj, name: str, what: str):
    try:
        return getattr(obj, name)
    except AttributeError as error:
        raise ServableError('lookup', AttributeError(f'{what} has no attribute {name!r}')) from error


def _load_python(spec: dict) -> Loaded:
    module = _import_user_module(spec)
    class_name = spec.get('class_name')
    if class_name:
        cls = _lookup(module, class_name, f'module {module.__name__}')
        if not isinstance(cls, type):
            raise ServableError('lookup', TypeError(f'{class_name} is not a class'))
        method = spec.get('method') or 'run'
        _lookup(cls, method, f'class {class_name}')
        try:
            instance = cls(**(spec.get('init_args') or {}))
        except BaseException as error:  # noqa: BLE001
            raise ServableError('init', error) from error
        return Loaded(spec, instance, method, 'python')
    function = spec.get('function')
    if not function:
        raise ServableError('declaration', ValueError('a python servable needs a function or a class_name'))
    fn = _lookup(module, function, f'module {module.__name__}')
    if not callable(fn):
        raise ServableError('lookup', TypeError(f'{function} is not callable'))
    return Loaded(spec, module, function, 'python')


def _load_sklearn(spec: dict) -> Loaded:
    path = _model_path(spec)
    caught: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter('always')
            if spec.get('serialization') == 'pickle':
                with open(path, 'rb') as handle:
                    estimator = pickle.load(handle)
            else:
                import joblib  # reads plain pickles as well as joblib's own (compressed) format

                estimator = joblib.load(path)
            caught = [str(record.message) for record in records]
    except BaseException as error:  # noqa: BLE001 - a truncated pickle raises EOFError, UnpicklingError...
        raise ServableError('model', error) from error
    method = spec.get('method') or 'predict'
    if not callable(getattr(estimator, method, None)):
        raise ServableError(
            'model', TypeError(f'the object in {os.path.basename(path)} ({_qualname(estimator)}) has no {method} method')
        )
    loaded = Loaded(spec, estimator, method, 'sklearn')
    loaded.warnings = caught
    return loaded


def _load_torch(spec: dict) -> Loaded:
    path = _model_path(spec)
    import torch

    try:
        module = torch.jit.load(path, map_location='cpu')
    except BaseException as error:  # noqa: BLE001
        raise ServableError('model', error) from error
    module.eval()
    return Loaded(spec, module, None, 'torch')


def load_servable(spec: dict) -> Loaded:
    """Import or unpickle the servable once; the result is passed to every call_servable."""
    kind = spec.get('kind', 'python')
    if kind == 'python':
        return _load_python(spec)
    if kind == 'sklearn':
        return _load_sklearn(spec)
    if kind == 'torch':
        return _load_torch(spec)
    raise ServableError('declaration', ValueError(f'unknown servable kind {kind!r}'))


# ---------------------------------------------------------------------------------------------
# Calling


def _apply(fn, item, parameters: dict, unpack: bool):
    if unpack and isinstance(item, dict):
        return fn(**item, **parameters)
    if unpack and isinstance(item, (list, tuple)):
        return fn(*item, **parameters)
    return fn(item, **parameters)


_TORCH_DTYPES = {
    'float16': 'float16', 'float32': 'float32', 'float64': 'float64', 'int8': 'int8', 'int16': 'int16',
    'int32': 'int32', 'int64': 'int64', 'uint8': 'uint8', 'bool': 'bool',
}


def _to_tensor(value, dtype_name):
    import torch

    dtype = getattr(torch, _TORCH_DTYPES.get(dtype_name or 'float32', 'float32'))
    return torch.as_tensor(value, dtype=dtype)


def _call_torch(loaded: Loaded, method: str, inputs, parameters: dict):
    import torch

    module = loaded.target
    fn = module if method == 'run' else _lookup(module, _python_name(loaded, method), 'the TorchScript module')
    dtype = loaded.spec.get('input_dtype')
    with torch.no_grad():
        if isinstance(inputs, dict):
            names = dtype if isinstance(dtype, dict) else {}
            fallback = dtype if isinstance(dtype, str) else None
            tensors = {k: _to_tensor(v, names.get(k, fallback)) for k, v in inputs.items()}
            return fn(**tensors, **parameters)
        if loaded.spec.get('unpack_inputs') and isinstance(inputs, (list, tuple)):
            dtypes = dtype if isinstance(dtype, list) else [dtype] * len(inputs)
            return fn(*[_to_tensor(v, d) for v, d in zip(inputs, dtypes)], **parameters)
        return fn(_to_tensor(inputs, dtype if isinstance(dtype, str) else None), **parameters)


def _python_name(loaded: Loaded, method: str) -> str:
    if method == 'run' and loaded.run_name:
        return loaded.run_name
    return (loaded.spec.get('methods') or {}).get(method, method)


def call_servable(loaded: Loaded, method: str, inputs, parameters: dict | None = None):
    """Run one call and return a JSON-safe output (numpy arrays and tensors become lists)."""
    parameters = parameters or {}
    method = method or 'run'
    spec = loaded.spec
    if loaded.kind == 'torch':
        return to_jsonable(_call_torch(loaded, method, inputs, parameters))
    name = _python_name(loaded, method)
    if name.startswith('_'):
        raise AttributeError(f'method {method!r} is not callable on this servable')
    fn = _lookup(loaded.target, name, 'the servable')
    if loaded.kind == 'sklearn':
        import numpy as np

        return to_jsonable(fn(np.asarray(inputs), **parameters))
    unpack = bool(spec.get('unpack_inputs'))
    if spec.get('autobatch'):
        if not isinstance(inputs, list):
            raise TypeError(f'autobatch expects a list of inputs, got {type(inputs).__name__}')
        return to_jsonable([_apply(fn, item, parameters, unpack) for item in inputs])
    return to_jsonable(_apply(fn, inputs, parameters, unpack))


def _finite(value: float):
    # JSON has no NaN or Infinity; null is what JavaScript's JSON.stringify writes for them too.
    return value if math.isfinite(value) else None


def to_jsonable(value):
    """numpy arrays, numpy scalars and torch tensors to lists and numbers; tuples and sets to lists."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    module = type(value).__module__
    if module.startswith('torch'):
        if hasattr(value, 'detach'):
            return to_jsonable(value.detach().cpu().tolist())
    if module.startswith('numpy'):
        if hasattr(value, 'tolist'):
            return to_jsonable(value.tolist())
    if isinstance(value, bytes):
        return value.decode('utf-8', errors='replace')
    if hasattr(value, 'tolist'):
        return to_jsonable(value.tolist())
    raise TypeError(f'the output of type {type(value).__name__} cannot be written as JSON')


# ---------------------------------------------------------------------------------------------
# Inspection


def _qualname(obj) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f'{cls.__module__}.{cls.__qualname__}'


def _dtype_name(dtype) -> str:
    """numpy dtype to the hub's dtype names."""
    kind = dtype.kind
    if kind == 'b':
        return 'bool'
    if kind in 'iuf':
        return f"{ {'i': 'int', 'u': 'uint', 'f': 'float'}[kind] }{dtype.itemsize * 8}"
    return 'string'


def _signature(fn):
    try:
        return str(pyinspect.signature(fn))
    except (TypeError, ValueError):
        return None


_ANNOTATIONS = {int: 'integer', float: 'number', str: 'string', bool: 'boolean', list: 'list', dict: 'dict'}


def _annotation_type(annotation):
    if isinstance(annotation, str):  # postponed annotations (from __future__ import annotations)
        annotation = {t.__name__: t for t in _ANNOTATIONS}.get(annotation)
    name = _ANNOTATIONS.get(annotation)
    if name == 'list':
        return {'type': 'list', 'item_type': {'type': 'any'}}
    if name == 'dict':
        return {'type': 'dict', 'properties': {}}
    return {'type': name} if name else None


def _python_types(fn):
    """Input/output argument types from annotations of a one-argument callable, where given."""
    try:
        signature = pyinspect.signature(fn)  # of a bound method: without self
    except (TypeError, ValueError):
        return None, None
    params = [p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    input_type = _annotation_type(params[0].annotation) if len(params) == 1 else None
    output_type = _annotation_type(signature.return_annotation)
    return input_type, output_type


def _warmup_shape(shape):
    return [1 if d is None else d for d in shape]


def _inspect_sklearn(loaded: Loaded) -> dict:
    import numpy as np
    import sklearn.base

    estimator = loaded.target
    facts: dict = {
        'estimator': _qualname(estimator),
        'is_classifier': bool(sklearn.base.is_classifier(estimator)),
        'is_regressor': bool(sklearn.base.is_regressor(estimator)),
        'methods': [m for m in ('predict', 'predict_proba', 'predict_log_proba', 'decision_function', 'transform')
                    if callable(getattr(estimator, m, None))],
    }
    n_features = getattr(estimator, 'n_features_in_', None)
    if n_features is not None:
        facts['n_features_in'] = int(n_features)
    feature_names = getattr(estimator, 'feature_names_in_', None)
    if feature_names is not None:
        facts['feature_names_in'] = [str(n) for n in feature_names]
    classes = getattr(estimator, 'classes_', None)
    if classes is not None:
        classes = np.asarray(classes)
        facts['classes'] = to_jsonable(classes)
        facts['classes_dtype'] = _dtype_name(classes.dtype)
    pickled_version = getattr(estimator, '__dict__', {}).get('_sklearn_version')
    if pickled_version:
        facts['pickled_with_sklearn'] = pickled_version
    shape = loaded.spec.get('input_shape')
    if n_features is not None or shape:
        # Warm-up: one row of zeros through predict tells the output dtype and proves it runs.
        width = int(n_features) if n_features is not None else _warmup_shape(shape)[-1]
        try:
            out = np.asarray(getattr(estimator, loaded.run_name or 'predict')(np.zeros((1, width))))
        except BaseException as error:  # noqa: BLE001
            raise ServableError('declaration', error) from error
        facts['output_dtype'] = _dtype_name(out.dtype)
        facts['output_shape'] = [None, *out.shape[1:]]
        if 'predict_proba' in facts['methods']:
            try:
                proba = np.asarray(estimator.predict_proba(np.zeros((1, width))))
                facts['predict_proba_shape'] = [None, *proba.shape[1:]]
            except BaseException:  # noqa: BLE001 - e.g. SVC(probability=False) has the method but refuses
                facts['methods'].remove('predict_proba')
    return facts


def _inspect_torch(loaded: Loaded) -> dict:
    import torch

    module = loaded.target
    facts: dict = {'torchscript': True, 'module': module.original_name if hasattr(module, 'original_name') else None}
    try:
        schema = module.forward.schema
        facts['forward_schema'] = str(schema)
        facts['forward_arguments'] = [
            {'name': a.name, 'type': str(a.type)} for a in schema.arguments if a.name != 'self'
        ]
        facts['forward_returns'] = [str(r.type) for r in schema.returns]
    except Exception:  # noqa: BLE001 - the schema is a nicety, not all modules expose it
        pass
    shape = loaded.spec.get('input_shape')
    if shape:
        dtype = loaded.spec.get('input_dtype') or 'float32'
        try:
            with torch.no_grad():
                out = module(torch.zeros(_warmup_shape(shape), dtype=getattr(torch, _TORCH_DTYPES.get(dtype, 'float32'))))
        except BaseException as error:  # noqa: BLE001
            raise ServableError('declaration', error) from error
        if isinstance(out, torch.Tensor):
            facts['output_dtype'] = str(out.dtype).replace('torch.', '')
            facts['output_shape'] = [None if (i == 0 and shape[0] is None) else d for i, d in enumerate(out.shape)]
    return facts


def _inspect_python(loaded: Loaded) -> dict:
    spec = loaded.spec
    facts: dict = {'module': spec.get('module')}
    if spec.get('class_name'):
        method = getattr(loaded.target, loaded.run_name)
        facts.update(
            class_name=spec['class_name'],
            method=loaded.run_name,
            init_signature=_signature(type(loaded.target).__init__),
            method_signature=_signature(method),
        )
        fn = method
    else:
        fn = getattr(loaded.target, loaded.run_name)
        facts.update(function=loaded.run_name, signature=_signature(fn))
    doc = pyinspect.getdoc(fn)
    if doc:
        facts['docstring'] = doc[:2000]
    if not spec.get('unpack_inputs') and not spec.get('autobatch'):
        input_type, output_type = _python_types(fn)
        if input_type:
            facts['input_type'] = input_type
        if output_type:
            facts['output_type'] = output_type
    return facts


def inspect_servable(spec: dict) -> dict:
    """Load the servable and report what its files tell: {facts, dependencies, warnings}."""
    loaded = load_servable(spec)
    if loaded.kind == 'sklearn':
        facts = _inspect_sklearn(loaded)
    elif loaded.kind == 'torch':
        facts = _inspect_torch(loaded)
    else:
        facts = _inspect_python(loaded)
    return {'facts': facts, 'dependencies': dependencies(loaded), 'warnings': loaded.warnings}


def dependencies(loaded: Loaded | None = None) -> dict:
    """The interpreter and the versions of the third-party packages the servable has imported."""
    import importlib.metadata as metadata
    import platform

    result: dict = {'python': platform.python_version()}
    packages: dict = {}
    try:
        owners = metadata.packages_distributions()
    except Exception:  # noqa: BLE001
        owners = {}
    stdlib = getattr(sys, 'stdlib_module_names', frozenset())
    files_dir = _files_dir(loaded.spec) if loaded else None
    for name in sorted({m.split('.')[0] for m in list(sys.modules)}):
        if name in stdlib or name in _BASELINE_MODULES or name.startswith('_') or name not in owners:
            continue
        module = sys.modules.get(name)
        where = getattr(module, '__file__', None) or ''
        if files_dir and where.startswith(files_dir + os.sep):
            continue  # the servable's own code, shipped with it
        for dist in owners[name]:
            try:
                packages[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                pass
    result['packages'] = packages
    return result


# ---------------------------------------------------------------------------------------------
# The stdio server


def _rss_bytes() -> int:
    try:
        with open('/proc/self/statm') as handle:
            return int(handle.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except OSError:
        return 0


def _error(error: BaseException, stage: str) -> dict:
    if isinstance(error, ServableError):
        stage, cause = error.stage, error.error
    else:
        cause = error
    return {
        'type': type(cause).__name__,
        'message': str(cause),
        'traceback': ''.join(traceback.format_exception(type(cause), cause, cause.__traceback__))[-8000:],
        'stage': stage,
    }


class _Server:
    def __init__(self, frames_out, frames_in):
        self.out = frames_out
        self.inp = frames_in
        self.loaded: Loaded | None = None

    def read(self):
        header = self.inp.read(4)
        if len(header) < 4:
            return None
        (length,) = struct.unpack('>I', header)
        body = self.inp.read(length)
        if len(body) < length:
            return None
        return json.loads(body.decode('utf-8'))

    def write(self, message: dict):
        try:
            body = json.dumps(message, allow_nan=False, separators=(',', ':')).encode('utf-8')
        except (TypeError, ValueError) as error:
            message = {'id': message.get('id'), 'ok': False, 'error': _error(error, 'call')}
            body = json.dumps(message, separators=(',', ':')).encode('utf-8')
        self.out.write(struct.pack('>I', len(body)) + body)
        self.out.flush()

    def handle(self, request: dict):
        op = request.get('op')
        if op == 'ping':
            return {'pid': os.getpid()}
        if op == 'load':
            self.loaded = load_servable(request['spec'])
            return {'dependencies': dependencies(self.loaded), 'rss_bytes': _rss_bytes(),
                    'warnings': self.loaded.warnings, 'pid': os.getpid()}
        if op == 'inspect':
            return inspect_servable(request['spec'])
        if op == 'call':
            if self.loaded is None:
                raise RuntimeError('no servable is loaded in this worker')
            return call_servable(self.loaded, request.get('method') or 'run', request.get('inputs'),
                                 request.get('parameters') or {})
        raise ValueError(f'unknown op {op!r}')

    def serve(self):
        while True:
            request = self.read()
            if request is None:
                return
            if request.get('op') == 'shutdown':
                self.write({'id': request.get('id'), 'ok': True, 'output': {}})
                return
            stage = 'call' if request.get('op') == 'call' else 'model'
            try:
                output = self.handle(request)
                self.write({'id': request.get('id'), 'ok': True, 'output': output})
            except BaseException as error:  # noqa: BLE001 - user code may raise SystemExit; keep serving
                if isinstance(error, KeyboardInterrupt):
                    raise
                self.write({'id': request.get('id'), 'ok': False, 'error': _error(error, stage)})


def _limit_memory(megabytes: int):
    import resource

    limit = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def die_with_parent(parent_pid: int, watch_fd: int | None = None, interval: float = 0.5) -> None:
    """Exit as soon as the process that started this one is gone.

    Two guards, because either alone can miss: the kernel's parent-death signal (Linux prctl
    PR_SET_PDEATHSIG, SIGKILL: immediate, even while user code holds the main thread), and a daemon
    thread that exits when `watch_fd` (the request pipe) hangs up or the parent pid changes (a
    re-parented orphan; platforms without prctl). `parent_pid` is the pid the parent gave, so that a
    parent that died before this ran is noticed too.
    """
    import signal
    import threading

    if sys.platform.startswith('linux'):
        try:
            import ctypes

            PR_SET_PDEATHSIG = 1
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still works
    if os.getppid() != parent_pid:
        os._exit(0)

    poller = None
    if watch_fd is not None:
        import select

        if hasattr(select, 'poll'):
            poller = select.poll()
            poller.register(watch_fd, 0)  # no input events: only hang-up and errors are reported

    def watch():
        hang_up = 0
        if poller is not None:
            import select

            hang_up = select.POLLHUP | select.POLLERR | select.POLLNVAL
        while True:
            if poller is not None:
                if any(event & hang_up for _fd, event in poller.poll(interval * 1000)):
                    os._exit(0)
            else:
                threading.Event().wait(interval)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, name='modelhub-parent-watch', daemon=True).start()


def main(argv: list[str]) -> int:
    # First, before anything slow: a hub killed while this starts must not leave it behind.
    parent = os.environ.get('MODELHUB_PARENT_PID')
    die_with_parent(int(parent) if parent else os.getppid(), watch_fd=0)
    memory_mb = 0
    if '--memory-limit-mb' in argv:
        memory_mb = int(argv[argv.index('--memory-limit-mb') + 1])
    if memory_mb > 0:
        _limit_memory(memory_mb)
    # Frames own the real stdout; fd 1 becomes stderr so prints, even from C code, cannot corrupt them.
    frames_out = os.fdopen(os.dup(1), 'wb')
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    frames_in = sys.stdin.buffer
    sys.stdin = open(os.devnull)
    _Server(frames_out, frames_in).serve()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
