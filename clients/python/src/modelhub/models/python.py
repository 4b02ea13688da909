"""Python functions and class methods described from live objects (DLHub's
``PythonStaticMethodModel`` and ``PythonClassMethodModel``).

The hub runs Python servables from files, in a worker that imports a module. So ``create``
writes one: the function's (or class's) source, the imports its code refers to, the source of
the helper functions and classes it calls from the same module, and every other global value it
reads (constants, arrays, fitted models; a closure's variables too) pickled into
``modelhub_state.pkl`` beside it. A function of an installed library (``math.sqrt``,
``numpy.sum``) is referenced by its module instead, as DLHub does. ``requirements.txt`` lists the
installed distributions the code imports, with their versions here.
"""

from __future__ import annotations

import inspect
import os
import pickle
import sys
import sysconfig
import textwrap
import types
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from .base import ServableDescription, argument_type

__all__ = ['PythonFunction', 'PythonClassMethod']

MODULE_FILE = 'modelhub_servable.py'
STATE_FILE = 'modelhub_state.pkl'
REQUIREMENTS_FILE = 'requirements.txt'

_ANNOTATIONS = {int: 'integer', float: 'number', str: 'string', bool: 'boolean', list: 'list', dict: 'dict'}


def _library_paths() -> List[str]:
    paths = {sysconfig.get_paths().get(key) for key in ('stdlib', 'platstdlib', 'purelib', 'platlib')}
    paths.update(p for p in sys.path if p.endswith(('site-packages', 'dist-packages')))
    return sorted(os.path.realpath(p) for p in paths if p)


def _is_library_module(module: Optional[types.ModuleType]) -> bool:
    """Installed (stdlib, site-/dist-packages or built in): the hub imports it rather than receiving
    its source."""
    if module is None or module.__name__ == '__main__':
        return False
    where = getattr(module, '__file__', None)
    if not where:
        return module.__name__ in sys.builtin_module_names
    real = os.path.realpath(where)
    return any(real.startswith(p + os.sep) for p in _library_paths())


def _top_distribution(module_name: str) -> Optional[str]:
    try:
        import importlib.metadata as metadata

        top = module_name.split('.')[0]
        owners = metadata.packages_distributions().get(top) if hasattr(metadata, 'packages_distributions') else None
        if not owners:
            return None
        return f'{owners[0]}=={metadata.version(owners[0])}'
    except Exception:  # noqa: BLE001 - requirements are a courtesy; never fail a description on them
        return None


def _code_names(code: types.CodeType) -> Set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _source(obj: Any) -> str:
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError) as error:
        raise ValueError(f'cannot read the source of {getattr(obj, "__qualname__", obj)!r}: {error}. '
                         'Define it in a file or a notebook cell, or publish a module file instead') from error


class _ModuleWriter:
    """Collects what a generated servable module needs: imports, helper sources, pickled globals."""

    def __init__(self, home: Dict[str, Any], home_module: str):
        self.home = home  # the globals of the module the code came from
        self.home_module = home_module
        self.imports: List[str] = []
        self.sources: List[str] = []
        self.state: Dict[str, Any] = {}
        self.seen: Set[str] = set()
        self.modules: Set[str] = set()

    def visit_code(self, code: types.CodeType, local: Set[str] = frozenset()) -> None:
        for name in sorted(_code_names(code)):
            if name in self.seen or name in local or name not in self.home:
                continue
            self.seen.add(name)
            self.add_global(name, self.home[name])

    def add_global(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType):
            self.modules.add(value.__name__)
            self.imports.append(f'import {value.__name__}' if value.__name__ == name else f'import {value.__name__} as {name}')
            return
        module_name = getattr(value, '__module__', None)
        module = sys.modules.get(module_name) if isinstance(module_name, str) else None
        if (inspect.isfunction(value) or inspect.isclass(value)) and module_name == self.home_module \
                and not _is_library_module(module):
            self.add_definition(value)
            return
        if (inspect.isfunction(value) or inspect.isclass(value)) and module is not None and module_name != '__main__' \
                and not _is_library_module(module):
            # From another module of the user's own (a sibling file the hub does not have): its
            # source travels too, and what it refers to is looked up in that module's globals.
            saved = self.home, self.home_module
            self.home, self.home_module = vars(module), module_name
            try:
                self.add_definition(value)
            finally:
                self.home, self.home_module = saved
            if value.__name__ != name:
                self.sources.append(f'{name} = {value.__name__}\n')
            return
        if (inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value)) and module is not None \
                and getattr(module, getattr(value, '__name__', ''), None) is value and module_name != '__main__':
            self.modules.add(module_name)
            alias = '' if value.__name__ == name else f' as {name}'
            self.imports.append(f'from {module_name} import {value.__name__}{alias}')
            return
        self.state[name] = value

    def add_definition(self, value: Any) -> None:
        source = _source(value)
        if inspect.isclass(value):
            for member in vars(value).values():
                function = getattr(member, '__func__', member)
                if inspect.isfunction(function):
                    self.visit_code(function.__code__)
        else:
            self.visit_code(value.__code__)
        self.sources.append(source)

    def render(self, header: str, tail: str = '') -> str:
        lines = [f'"""{header}"""', '']
        lines += sorted(set(self.imports))
        if self.state:
            lines += ['', 'import os as _modelhub_os', 'import pickle as _modelhub_pickle', '',
                      '# Global values the code reads, pickled when the servable was described.',
                      f"with open(_modelhub_os.path.join(_modelhub_os.path.dirname(_modelhub_os.path.abspath(__file__)), '{STATE_FILE}'), 'rb') as _modelhub_handle:",
                      '    globals().update(_modelhub_pickle.load(_modelhub_handle))']
        for source in self.sources:
            lines += ['', '', source.rstrip()]
        if tail:
            lines += ['', '', tail.rstrip()]
        return '\n'.join(lines) + '\n'

    def requirements(self) -> List[str]:
        found = {_top_distribution(m) for m in self.modules if not _is_stdlib(m)}
        for value in self.state.values():
            module_name = getattr(type(value), '__module__', '') or ''
            if module_name and module_name != 'builtins' and not _is_stdlib(module_name):
                found.add(_top_distribution(module_name))
        return sorted(r for r in found if r)


def _is_stdlib(module_name: str) -> bool:
    top = module_name.split('.')[0]
    return top in getattr(sys, 'stdlib_module_names', ()) or top in sys.builtin_module_names


def _strip_decorators(source: str) -> str:
    lines = source.splitlines()
    while lines and lines[0].lstrip().startswith('@'):
        lines.pop(0)
    return '\n'.join(lines) + '\n'


def _annotation_type(annotation: Any) -> Optional[Dict[str, Any]]:
    if isinstance(annotation, str):  # postponed annotations
        annotation = {t.__name__: t for t in _ANNOTATIONS}.get(annotation)
    name = _ANNOTATIONS.get(annotation)
    if name is None:
        return None
    return argument_type(name) if name not in ('list', 'dict') else (
        {'type': 'list', 'item_type': {'type': 'any'}} if name == 'list' else {'type': 'dict', 'properties': {}})


def _signature_types(fn: Callable) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Input/output types from the annotations of a one-argument callable, else ``any``."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return {'type': 'any'}, {'type': 'any'}
    params = [p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    input_type = _annotation_type(params[0].annotation) if len(params) == 1 else None
    output_type = _annotation_type(signature.return_annotation)
    return input_type or {'type': 'any'}, output_type or {'type': 'any'}


class _PythonServable(ServableDescription):
    servable_type = 'python'

    def _finish(self, writer: Optional[_ModuleWriter], module_source: Optional[str],
                requirements: Optional[Sequence[str]], options: Dict[str, Any]) -> None:
        scratch = self._scratch()
        if module_source is not None:
            with open(os.path.join(scratch, MODULE_FILE), 'w', encoding='utf-8') as handle:
                handle.write(module_source)
            self.add_file(os.path.join(scratch, MODULE_FILE), MODULE_FILE)
        if writer is not None and writer.state:
            try:
                with open(os.path.join(scratch, STATE_FILE), 'wb') as handle:
                    pickle.dump(writer.state, handle)
            except (pickle.PicklingError, TypeError, AttributeError) as error:
                raise ValueError(f'cannot pickle the global values {sorted(writer.state)} the code reads: {error}') from error
            self.add_file(os.path.join(scratch, STATE_FILE), STATE_FILE)
        self.requirements = list(requirements) if requirements is not None else (writer.requirements() if writer else [])
        with open(os.path.join(scratch, REQUIREMENTS_FILE), 'w', encoding='utf-8') as handle:
            handle.write(''.join(f'{r}\n' for r in self.requirements))
        self.add_file(os.path.join(scratch, REQUIREMENTS_FILE), REQUIREMENTS_FILE)
        chosen = {k: v for k, v in options.items() if v}
        if chosen:
            self.servable['options'] = chosen
        self.facts['module_source'] = module_source

    def add_requirement(self, requirement: str, version: Optional[str] = None) -> '_PythonServable':
        """DLHub's ``add_requirement('numpy', '1.24')``: appended to requirements.txt."""
        entry = f'{requirement}=={version}' if version and version not in ('detect', 'latest') else requirement
        self.requirements.append(entry)
        path = os.path.join(self._scratch(), REQUIREMENTS_FILE)
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write(''.join(f'{r}\n' for r in self.requirements))
        return self.add_file(path, REQUIREMENTS_FILE)

    def set_unpack_inputs(self, unpack: bool) -> '_PythonServable':
        self.servable.setdefault('options', {})['unpack_inputs'] = unpack
        return self

    def set_autobatch(self, autobatch: bool) -> '_PythonServable':
        self.servable.setdefault('options', {})['autobatch'] = autobatch
        return self


class PythonFunction(_PythonServable):
    """A function the hub calls with the inputs (``fn(inputs, **parameters)``)."""

    @classmethod
    def create(cls, fn: Callable, requirements: Optional[Sequence[str]] = None, autobatch: bool = False,
               unpack_inputs: bool = False, input_type: Optional[Dict[str, Any]] = None,
               output_type: Optional[Dict[str, Any]] = None) -> 'PythonFunction':
        """``autobatch``: the function takes one item and the hub maps it over a list of inputs;
        ``unpack_inputs``: a dict of inputs becomes keyword arguments, a list positional ones."""
        if not callable(fn):
            raise TypeError(f'{fn!r} is not callable')
        if getattr(fn, '__name__', '') == '<lambda>':
            raise ValueError('a lambda has no name the hub can call: define it with def')
        module = sys.modules.get(getattr(fn, '__module__', None) or '')
        guessed_in, guessed_out = _signature_types(fn) if not (autobatch or unpack_inputs) else ({'type': 'any'}, {'type': 'any'})
        run = {'input': input_type or guessed_in, 'output': output_type or guessed_out}
        facts: Dict[str, Any] = {'function': fn.__name__, 'module': getattr(fn, '__module__', None)}
        try:
            facts['signature'] = str(inspect.signature(fn))
        except (TypeError, ValueError):
            pass
        doc = inspect.getdoc(fn)
        if doc:
            facts['docstring'] = doc[:2000]
            run['description'] = doc.split('\n\n')[0][:500]
        options = {'autobatch': autobatch, 'unpack_inputs': unpack_inputs}
        if _is_library_module(module) and getattr(module, fn.__name__, None) is fn:
            # An installed library's function: the hub imports it by name, as DLHub does.
            model = cls({'type': 'python', 'python': {'module': module.__name__, 'function': fn.__name__},
                         'methods': {'run': run}})
            model.facts = facts
            top = _top_distribution(module.__name__)
            model._finish(None, None, requirements if requirements is not None else ([top] if top and not _is_stdlib(module.__name__) else []), options)
            return model
        if not inspect.isfunction(fn):
            raise TypeError(f'{fn!r} is not a Python function: wrap it in one')
        writer = _ModuleWriter(fn.__globals__, fn.__module__)
        writer.seen.add(fn.__name__)
        if fn.__closure__:
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                writer.seen.add(name)
                writer.add_global(name, cell.cell_contents)
        writer.visit_code(fn.__code__)
        writer.sources.append(_strip_decorators(_source(fn)))
        source = writer.render(f'Written by the modelhub Python client from {fn.__module__}.{fn.__qualname__}.')
        model = cls({'type': 'python', 'python': {'module': MODULE_FILE, 'function': fn.__name__}, 'methods': {'run': run}})
        model.facts = facts
        model.function = fn
        model._finish(writer, source, requirements, options)
        return model


_CLASS_WRAPPER = '''class ModelhubServable:
    """Rebuilds the described object from its pickled state and calls {method} on it."""

    def __init__(self):
        with open(_modelhub_os.path.join(_modelhub_os.path.dirname(_modelhub_os.path.abspath(__file__)), '{state}'), 'rb') as handle:
            state = _modelhub_pickle.load(handle)
        {rebuild}

    def run(self, *args, **kwargs):
        return self.target.{method}(*args, **kwargs)
'''


class PythonClassMethod(_PythonServable):
    """A method of a live object, e.g. ``PythonClassMethod.create(featurizer, "transform")``."""

    @classmethod
    def create(cls, obj: Any, method: str = 'run', requirements: Optional[Sequence[str]] = None,
               autobatch: bool = False, unpack_inputs: bool = False, input_type: Optional[Dict[str, Any]] = None,
               output_type: Optional[Dict[str, Any]] = None) -> 'PythonClassMethod':
        """The object's state is pickled. A class of an installed library is imported on the hub;
        a class of your own code travels as source, with what its methods refer to."""
        bound = getattr(obj, method, None)
        if not callable(bound):
            raise AttributeError(f'{type(obj).__name__} has no method {method!r}')
        klass = type(obj)
        module = sys.modules.get(klass.__module__)
        guessed_in, guessed_out = _signature_types(bound) if not (autobatch or unpack_inputs) else ({'type': 'any'}, {'type': 'any'})
        run = {'input': input_type or guessed_in, 'output': output_type or guessed_out}
        facts: Dict[str, Any] = {'class_name': f'{klass.__module__}.{klass.__qualname__}', 'method': method}
        doc = inspect.getdoc(bound)
        if doc:
            facts['docstring'] = doc[:2000]
            run['description'] = doc.split('\n\n')[0][:500]
        if _is_library_module(module):
            writer = _ModuleWriter({}, klass.__module__)
            writer.modules.add(klass.__module__)
            state: Any = obj
            rebuild = 'self.target = state'
        else:
            writer = _ModuleWriter(vars(module) if module else {}, klass.__module__)
            writer.seen.add(klass.__name__)
            writer.add_definition(klass)
            state = dict(vars(obj)) if hasattr(obj, '__dict__') else None
            if state is None:
                raise TypeError(f'{klass.__name__} objects have no __dict__ to pickle')
            rebuild = f'self.target = {klass.__name__}.__new__({klass.__name__})\n        self.target.__dict__.update(state)'
        state_name = 'modelhub_object.pkl'
        wrapper = _CLASS_WRAPPER.format(method=method, state=state_name, rebuild=rebuild)
        header = f'Written by the modelhub Python client from {klass.__module__}.{klass.__qualname__}.{method}.'
        writer.imports += ['import os as _modelhub_os', 'import pickle as _modelhub_pickle']
        source = writer.render(header, wrapper)
        model = cls({'type': 'python', 'python': {'module': MODULE_FILE, 'class_name': 'ModelhubServable', 'method': 'run'},
                     'methods': {'run': run}})
        model.facts = facts
        model.target = obj
        path = os.path.join(model._scratch(), state_name)
        try:
            with open(path, 'wb') as handle:
                pickle.dump(state, handle)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise ValueError(f'cannot pickle the state of {klass.__name__}: {error}') from error
        model.add_file(path, state_name)
        if not _is_library_module(module) or requirements is not None:
            model._finish(writer, source, requirements, {'autobatch': autobatch, 'unpack_inputs': unpack_inputs})
        else:
            top = _top_distribution(klass.__module__)
            model._finish(writer, source, [top] if top else [], {'autobatch': autobatch, 'unpack_inputs': unpack_inputs})
        return model

