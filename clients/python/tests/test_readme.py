"""The README's Python quick start runs as written, against the test hub."""

from __future__ import annotations

import os
import re

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'README.md')


def test_readme_python_quick_start(hub, capsys):
    with open(README, encoding='utf-8') as handle:
        text = handle.read()
    block = re.search(r'From Python .*?```python\n(.*?)```', text, re.S)
    assert block, 'the README has no Python quick start'
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 11
    exec(compile(code.replace('http://127.0.0.1:8700', hub.url), 'README.md', 'exec'), {})
    assert capsys.readouterr().out.strip() == 'SUCCEEDED [0 0 0]'
