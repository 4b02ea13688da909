"""Notebook views (Jupyter calls ``_repr_html_``): a search page as a table, a servable as its
model card, a task with its steps. Plain HTML with escaped text and no scripts, the same output
for the same document (the tests compare it with snapshots)."""

from __future__ import annotations

import json
from html import escape
from typing import Any, Dict, Iterable, List, Sequence

__all__ = ['search_table', 'servable_card', 'task_view', 'example_inputs', 'citation_line']

_STATUS_COLOURS = {'SUCCEEDED': '#1a7f37', 'FAILED': '#cf222e', 'RUNNING': '#9a6700', 'PENDING': '#57606a'}


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """``rows`` hold HTML already escaped."""
    head = ''.join(f'<th style="text-align:left">{escape(h)}</th>' for h in headers)
    body = ''.join('<tr>' + ''.join(f'<td style="text-align:left">{cell}</td>' for cell in row) + '</tr>' for row in rows)
    return f'<table class="modelhub-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _score(value: Any) -> str:
    return f'{float(value):.3g}' if isinstance(value, (int, float)) else ''


def search_table(results: Any) -> str:
    hits = list(results)
    rows = [[
        f'<code>{escape(str(h.get("servable", "")))}</code>',
        escape(str(h.get('version', ''))),
        escape(str(h.get('title', ''))),
        escape('; '.join(h.get('authors') or [])),
        escape(', '.join(h.get('domains') or [])),
        escape(str(h.get('type', ''))),
        escape(_score(h.get('score'))),
    ] for h in hits]
    total = getattr(results, 'total', len(hits))
    offset = getattr(results, 'offset', 0)
    caption = (f'<p class="modelhub-caption">{len(hits)} of {total} servables' +
               (f' (from {offset + 1})' if offset else '') + '</p>')
    if not hits:
        return '<div class="modelhub-search"><p>No servables match.</p></div>'
    return ('<div class="modelhub-search">' +
            _table(['servable', 'version', 'title', 'authors', 'domains', 'type', 'score'], rows) + caption + '</div>')


def _describe_type(argument: Dict[str, Any]) -> str:
    kind = argument.get('type', 'any')
    if kind == 'ndarray':
        shape = ', '.join('None' if d is None else str(d) for d in argument.get('shape', []))
        return f'ndarray {argument.get("dtype", "")} [{shape}]'
    if kind == 'list':
        return f'list of {_describe_type(argument.get("item_type", {}))}'
    if kind == 'dict':
        inner = ', '.join(f'{k}: {_describe_type(v)}' for k, v in (argument.get('properties') or {}).items())
        return f'dict {{{inner}}}'
    if kind == 'tuple':
        return '(' + ', '.join(_describe_type(e) for e in argument.get('element_types', [])) + ')'
    return kind


def example_inputs(argument: Dict[str, Any]) -> Any:
    """A value of the declared input type (zeros of the shape, batch of one), for the example call."""
    kind = argument.get('type', 'any')
    if kind == 'ndarray':
        shape = [1 if d is None else d for d in argument.get('shape', [])]
        zero: Any = 'text' if argument.get('dtype') == 'string' else (False if argument.get('dtype') == 'bool' else 0)

        def build(dims: List[int]) -> Any:
            return zero if not dims else [build(dims[1:]) for _ in range(min(dims[0], 8))]

        return build(shape)
    if kind == 'list':
        return [example_inputs(argument.get('item_type', {}))]
    if kind == 'dict':
        return {k: example_inputs(v) for k, v in (argument.get('properties') or {}).items()}
    if kind == 'tuple':
        return [example_inputs(e) for e in argument.get('element_types', [])]
    return {'number': 0, 'integer': 0, 'string': 'text', 'boolean': False}.get(kind, '...')


def citation_line(document: Dict[str, Any]) -> str:
    """An APA-style line from the document itself (``hub.cite(name, "apa")`` asks the hub)."""
    datacite = document.get('datacite', {})
    hub = document.get('hub', {})
    authors = '; '.join(c.get('name', '') for c in datacite.get('creators', []))
    year = datacite.get('publicationYear') or str(hub.get('publication_date', ''))[:4]
    title = (datacite.get('titles') or [{}])[0].get('title', '')
    version = f' (Version {hub["version"]})' if hub.get('version') else ''
    publisher = datacite.get('publisher', 'modelhub')
    identifier = hub.get('identifier', '')
    return f'{authors} ({year}). {title}{version} [Model]. {publisher}. {identifier}'.strip()


def servable_card(document: Dict[str, Any]) -> str:
    datacite = document.get('datacite', {})
    hub = document.get('hub', {})
    servable = document.get('servable', {})
    name = f'{hub.get("owner", "")}/{hub.get("name", "")}'
    title = (datacite.get('titles') or [{}])[0].get('title', name)
    parts = [f'<div class="modelhub-servable"><h3>{escape(title)}</h3>',
             f'<p><code>{escape(name)}@{escape(str(hub.get("version", "")))}</code> · {escape(str(servable.get("type", "")))}'
             f' · {escape(str(hub.get("visibility", "public")))}</p>']
    facts = [('identifier', hub.get('identifier')),
             ('authors', '; '.join(c.get('name', '') for c in datacite.get('creators', []))),
             ('domains', ', '.join(hub.get('domains') or [])),
             ('published', hub.get('publication_date')),
             ('license', ', '.join(r.get('rights', '') for r in datacite.get('rightsList') or [])),
             ('related', ', '.join(f'{r["relationType"]} {r["relatedIdentifier"]}' for r in datacite.get('relatedIdentifiers') or []))]
    parts.append(_table(['', ''], [[f'<b>{escape(k)}</b>', escape(str(v))] for k, v in facts if v]))
    for description in datacite.get('descriptions') or []:
        parts.append(f'<p>{escape(description.get("description", ""))}</p>')
    methods = servable.get('methods', {})
    parts.append('<h4>Inputs and outputs</h4>')
    parts.append(_table(['method', 'input', 'output', 'description'], [[
        f'<code>{escape(method)}</code>',
        escape(_describe_type(spec.get('input', {}))) + (f'<br><i>{escape(spec["input"]["description"])}</i>' if spec.get('input', {}).get('description') else ''),
        escape(_describe_type(spec.get('output', {}))) + (f'<br><i>{escape(spec["output"]["description"])}</i>' if spec.get('output', {}).get('description') else ''),
        escape(spec.get('description', '')),
    ] for method, spec in methods.items()]))
    parts.append('<h4>Cite</h4>')
    parts.append(f'<p class="modelhub-citation">{escape(citation_line(document))}</p>')
    run = methods.get('run', {})
    example = json.dumps(example_inputs(run.get('input', {})))
    parts.append('<h4>Run</h4>')
    parts.append(f'<pre>from modelhub import HubClient\nHubClient().run({escape(json.dumps(name))}, {escape(example)})</pre>')
    parts.append('</div>')
    return ''.join(parts)


def task_view(task: Dict[str, Any]) -> str:
    status = str(task.get('status', 'PENDING'))
    colour = _STATUS_COLOURS.get(status, '#57606a')
    what = task.get('kind', 'task')
    target = f' {task["servable"]}@{task.get("version", "")}' if task.get('servable') else ''
    parts = [f'<div class="modelhub-task"><p><b>{escape(what)}{escape(target)}</b> · task <code>{escape(str(task.get("task_id", "")))}</code>'
             f' · <span style="color:{colour}">{escape(status)}</span></p>']
    steps = task.get('steps') or []
    if steps:
        parts.append(_table(['step', 'status', 'message'], [[
            escape(str(s.get('name', ''))),
            f'<span style="color:{_STATUS_COLOURS.get(str(s.get("status")), "#57606a")}">{escape(str(s.get("status", "")))}</span>',
            escape(str(s.get('message', ''))),
        ] for s in steps]))
    error = task.get('error')
    if error:
        parts.append(f'<p style="color:#cf222e"><code>{escape(str(error.get("code", "")))}</code> {escape(str(error.get("message", "")))}</p>')
    parts.append('</div>')
    return ''.join(parts)
