"""A PyTorch module described from the live object: traced (with the example input) or scripted
into TorchScript, which the hub loads without the module's Python code."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence

from .base import ServableDescription

__all__ = ['TorchModel']


class TorchModel(ServableDescription):
    servable_type = 'torch'

    @classmethod
    def create(cls, module: Any, example_input: Any = None, method: str = 'trace',
               input_shape: Optional[Sequence[Optional[int]]] = None) -> 'TorchModel':
        """``method='trace'`` runs ``example_input`` through the module (``torch.jit.trace``);
        ``'script'`` compiles it (``torch.jit.script``, for data-dependent control flow). An
        already compiled ``ScriptModule`` is saved as it is. The input's dtype and shape (batch
        dimension dynamic) come from ``example_input`` unless ``input_shape`` is given."""
        import torch

        if example_input is not None and not isinstance(example_input, torch.Tensor):
            example_input = torch.as_tensor(example_input)
        if isinstance(module, torch.jit.ScriptModule):
            compiled = module
        elif method == 'script':
            compiled = torch.jit.script(module)
        elif method == 'trace':
            if example_input is None:
                raise ValueError('tracing needs an example_input (or use method="script")')
            compiled = torch.jit.trace(module.eval(), example_input)
        else:
            raise ValueError(f'method is "trace" or "script", not {method!r}')
        compiled.eval()
        facts: Dict[str, Any] = {'torch_version': torch.__version__, 'torchscript': method,
                                 'module': type(module).__name__}
        run: Dict[str, Any] = {'input': {'type': 'any'}, 'output': {'type': 'any'}}
        if example_input is not None:
            dtype = str(example_input.dtype).replace('torch.', '')
            shape = list(input_shape) if input_shape is not None else [None, *example_input.shape[1:]]
            run['input'] = {'type': 'ndarray', 'shape': shape, 'dtype': dtype}
            with torch.no_grad():
                out = compiled(example_input)
            if isinstance(out, torch.Tensor):
                run['output'] = {'type': 'ndarray', 'shape': [None, *out.shape[1:]],
                                 'dtype': str(out.dtype).replace('torch.', '')}
        model = cls({'type': 'torch', 'model_file': 'model.pt', 'methods': {'run': run}})
        model.facts = facts
        model.module = module
        path = os.path.join(model._scratch(), 'model.pt')
        compiled.save(path)
        model.requirements = [f'torch=={torch.__version__.split("+")[0]}']
        return model.add_file(path, 'model.pt')

    @classmethod
    def from_file(cls, path: str, input_shape: Sequence[Optional[int]], dtype: str = 'float32') -> 'TorchModel':
        """Describe a saved TorchScript file (``torch.jit.save``)."""
        model = cls({'type': 'torch', 'model_file': os.path.basename(path), 'methods': {'run': {
            'input': {'type': 'ndarray', 'shape': list(input_shape), 'dtype': dtype}, 'output': {'type': 'any'}}}})
        return model.add_file(path)
