"""DLHub servable documents (the dlhub_schemas ``servable`` JSON: ``datacite``, ``dlhub`` and
``servable`` blocks, as ``dlhub_sdk``'s ``to_dict()`` writes them) turned into this hub's metadata.

The same mapping is in TypeScript in ``sdk/models/dlhub-import.ts`` (``modelhub import-dlhub``);
``test_dlhub_import.py`` and ``test/unit/dlhub-import.test.ts`` check the two against the same
documents.

What maps:
- ``datacite``: titles, creators (``creatorName`` or ``name``, ``affiliations``, ORCID name
  identifiers), descriptions, related identifiers, rights, funding, subjects, publication year.
  DLHub's placeholder identifier ``10.YET/UNASSIGNED`` and ``alternateIdentifiers`` are dropped:
  the hub mints the identifier.
- ``dlhub``: ``owner`` and ``name`` (lower-cased; other characters become ``-``), ``domains``,
  ``visible_to`` (``["public"]`` → public; anything else → private, since Globus identities and
  groups do not exist here: share it afterwards), ``files`` (matched by base name with the files
  given, else looked up beside the document).
- ``servable.shim``: ``sklearn.ScikitLearnServable`` → sklearn, ``python.PythonStaticMethodServable``
  → python function, ``python.PythonClassMethodServable`` → a pickled object's method,
  ``torch.TorchServable`` → torch (TorchScript files only), ``keras.KerasServable`` → keras,
  ``tensorflow.TensorFlowServable`` → tf-savedmodel. Method argument types are converted
  (``float`` → ``number``, an ndarray's ``item_type`` → ``dtype``); ``servable.dependencies.python``
  becomes requirements.txt (unpinned, DLHub's versions as comments). The original document travels with the servable as ``dlhub.json``.
"""

from __future__ import annotations

import copy
import json
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..models.base import RELATED_IDENTIFIER_TYPES, RELATION_TYPES, ServableDescription, _normalize_type

__all__ = ['DLHubImport', 'import_servable_document', 'convert_document', 'SHIMS']

SHIMS = {
    'sklearn.ScikitLearnServable': 'sklearn',
    'python.PythonStaticMethodServable': 'python',
    'python.PythonClassMethodServable': 'python',
    'torch.TorchServable': 'torch',
    'keras.KerasServable': 'keras',
    'tensorflow.TensorFlowServable': 'tf-savedmodel',
}
PLACEHOLDER_DOI = '10.YET/UNASSIGNED'
DOCUMENT_FILE = 'dlhub.json'
CLASS_MODULE_FILE = 'dlhub_class_method.py'

# The wrapper for DLHub's PythonClassMethodServable: unpickle the object, call its method.
CLASS_MODULE_SOURCE = '''"""Written by modelhub's DLHub importer: runs {method} of the object pickled in {pickle}."""

import os
import pickle


class DLHubClassMethod:
    def __init__(self):
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), {pickle_literal}), 'rb') as handle:
            self.target = pickle.load(handle)

    def run(self, *args, **kwargs):
        return self.target.{method}(*args, **kwargs)
'''


def _js(value: Any) -> str:
    """JSON as JavaScript's JSON.stringify writes it, so both importers' warnings read the same."""
    return json.dumps(value, separators=(',', ':'), ensure_ascii=False)


def _slug(value: str) -> str:
    slug = re.sub(r'[^a-z0-9._-]+', '-', value.strip().lower()).strip('-._')
    return slug or 'servable'


def _owner_slug(value: str) -> str:
    return re.sub(r'[^a-z0-9-]+', '-', value.strip().lower()).strip('-')[:39] or 'dlhub'


def _creator(entry: Any) -> Optional[Dict[str, Any]]:
    if isinstance(entry, str):
        entry = {'creatorName': entry}
    if not isinstance(entry, dict):
        return None
    name = entry.get('creatorName') or entry.get('name')
    if not name and entry.get('familyName'):
        name = f'{entry["familyName"]}, {entry.get("givenName", "")}'.strip(', ')
    if not name:
        return None
    creator: Dict[str, Any] = {'name': name, 'nameType': entry.get('nameType', 'Personal')}
    family, _, given = name.partition(',')
    if entry.get('familyName') or given.strip():
        creator['familyName'] = entry.get('familyName') or family.strip()
        creator['givenName'] = entry.get('givenName') or given.strip()
    affiliations = entry.get('affiliations') or entry.get('affiliation')
    if isinstance(affiliations, str):
        affiliations = [affiliations]
    affiliations = [a for a in (affiliations or []) if isinstance(a, str) and a.strip()]
    if affiliations:
        creator['affiliation'] = affiliations
    for identifier in entry.get('nameIdentifiers') or []:
        scheme = str(identifier.get('nameIdentifierScheme', '')).upper()
        value = str(identifier.get('nameIdentifier', ''))
        if scheme == 'ORCID' and re.search(r'\d{4}-\d{4}-\d{4}-\d{3}[\dX]$', value):
            bare = re.search(r'\d{4}-\d{4}-\d{4}-\d{3}[\dX]$', value).group(0)
            creator['orcid'] = bare
            creator['nameIdentifiers'] = [{'nameIdentifier': f'https://orcid.org/{bare}', 'nameIdentifierScheme': 'ORCID',
                                           'schemeUri': 'https://orcid.org'}]
    return creator


def convert_datacite(block: Dict[str, Any], warnings: List[str]) -> Dict[str, Any]:
    result: Dict[str, Any] = {'resourceType': {'resourceTypeGeneral': 'Model'}}
    titles = [{'title': t['title']} for t in block.get('titles') or [] if isinstance(t, dict) and t.get('title')]
    if titles:
        result['titles'] = titles
    creators = [c for c in (_creator(e) for e in block.get('creators') or []) if c]
    if creators:
        result['creators'] = creators
    year = str(block.get('publicationYear', ''))
    if re.match(r'^\d{4}$', year):
        result['publicationYear'] = year
    kinds = ('Abstract', 'Methods', 'TechnicalInfo', 'Other')
    # No type: an abstract; a DataCite type this schema lacks (SeriesInformation ...): Other.
    descriptions = [{'description': d['description'],
                     'descriptionType': 'Abstract' if 'descriptionType' not in d else (d['descriptionType'] if d['descriptionType'] in kinds else 'Other')}
                    for d in block.get('descriptions') or [] if isinstance(d, dict) and d.get('description')]
    if descriptions:
        result['descriptions'] = descriptions
    related = []
    for entry in block.get('relatedIdentifiers') or []:
        if entry.get('relatedIdentifierType') in RELATED_IDENTIFIER_TYPES and entry.get('relationType') in RELATION_TYPES \
                and entry.get('relatedIdentifier'):
            related.append({k: entry[k] for k in ('relatedIdentifier', 'relatedIdentifierType', 'relationType')})
        else:
            warnings.append(f'dropped the related identifier {_js(entry)}: its type or relation is not DataCite\'s')
    if related:
        result['relatedIdentifiers'] = related
    rights = [{k: r[k] for k in ('rights', 'rightsUri') if r.get(k)} for r in block.get('rightsList') or [] if r.get('rights')]
    if rights:
        result['rightsList'] = rights
    funding = [{k: f[k] for k in ('funderName', 'funderIdentifier', 'awardNumber', 'awardTitle') if isinstance(f.get(k), str) and f.get(k)}
               for f in block.get('fundingReferences') or [] if f.get('funderName')]
    if funding:
        result['fundingReferences'] = funding
    subjects = [{'subject': s['subject']} for s in block.get('subjects') or [] if isinstance(s, dict) and s.get('subject')]
    if subjects:
        result['subjects'] = subjects
    identifier = (block.get('identifier') or {}).get('identifier')
    if identifier and identifier != PLACEHOLDER_DOI:
        # A DOI DLHub minted: the hub mints its own; keep DLHub's as the original form.
        result.setdefault('relatedIdentifiers', []).append(
            {'relatedIdentifier': identifier, 'relatedIdentifierType': 'DOI', 'relationType': 'IsVariantFormOf'})
    return result


def _method(method: Dict[str, Any]) -> Dict[str, Any]:
    result: Dict[str, Any] = {'input': _normalize_type(method.get('input')), 'output': _normalize_type(method.get('output'))}
    if method.get('parameters'):
        result['parameters'] = copy.deepcopy(method['parameters'])
    if method.get('description'):
        result['description'] = method['description']
    return result


def _file_entries(files: Any) -> List[Tuple[str, str]]:
    """DLHub's ``files`` block as (role, path): ``{"model": p, "pickle": p, "other": [p, ...]}``."""
    entries: List[Tuple[str, str]] = []
    if isinstance(files, dict):
        for role, value in files.items():
            for path in value if isinstance(value, list) else [value]:
                if isinstance(path, str) and path:
                    entries.append((role, path))
    elif isinstance(files, list):
        entries = [('other', p) for p in files if isinstance(p, str)]
    return entries


def convert_document(document: Dict[str, Any], owner: Optional[str] = None) -> Tuple[Dict[str, Any], List[Tuple[str, str]], List[str], List[str]]:
    """The hub's metadata for a DLHub document, without touching files.

    Returns ``(metadata, files, requirements, warnings)``: ``files`` are the document's
    ``(role, path)`` entries (``model``, ``pickle``, ``other``), paths as DLHub wrote them."""
    if not isinstance(document, dict) or not isinstance(document.get('servable'), dict):
        raise ValueError('not a DLHub servable document: it has no "servable" block')
    warnings: List[str] = []
    dlhub = document.get('dlhub') or {}
    servable = document['servable']
    shim = servable.get('shim')
    if shim not in SHIMS:
        raise NotImplementedError(f'DLHub servables of shim {shim!r} have no equivalent on modelhub '
                                  f'(supported: {", ".join(SHIMS)})')
    files = _file_entries(dlhub.get('files') or servable.get('files'))
    datacite = convert_datacite(document.get('datacite') or {}, warnings)
    hub: Dict[str, Any] = {'type': 'servable'}
    name = dlhub.get('name') or (dlhub.get('shorthand_name') or '').split('/')[-1]
    if name:
        hub['name'] = _slug(name)[:64]
        if hub['name'] != name:
            warnings.append(f'renamed {_js(name)} to {_js(hub["name"])} (names here are lower-case letters, digits, - . _)')
    chosen_owner = owner or dlhub.get('owner') or ((dlhub.get('shorthand_name') or '').split('/')[0] or None)
    if chosen_owner:
        hub['owner'] = _owner_slug(chosen_owner)
    if dlhub.get('domains'):
        hub['domains'] = [d for d in dlhub['domains'] if isinstance(d, str) and d.strip()]
        if 'subjects' not in datacite:
            datacite['subjects'] = [{'subject': d} for d in hub['domains']]
    visible_to = dlhub.get('visible_to') or ['public']
    if 'public' in visible_to:
        hub['visibility'] = 'public'
    else:
        hub['visibility'] = 'private'
        warnings.append(f'visible_to {_js(visible_to)} names Globus identities or groups, which do not exist here: the '
                        'servable is private to its owner; share it with this hub\'s users and groups')
    methods = servable.get('methods') or {}
    run = methods.get('run') or {}
    details = run.get('method_details') or {}
    options = servable.get('options') or {}
    kind = SHIMS[shim]
    block: Dict[str, Any] = {'type': kind, 'methods': {'run': _method(run)}}
    for method_name, method in methods.items():
        if method_name != 'run' and re.match(r'^[A-Za-z_][A-Za-z0-9_]{0,63}$', method_name):
            block['methods'][method_name] = _method(method)
            if (method.get('method_details') or {}).get('method_name'):
                block['methods'][method_name]['method_details'] = {'method_name': method['method_details']['method_name']}
    model_files = [p for role, p in files if role == 'model']
    if kind == 'sklearn':
        # DLHub's shim runs predict_proba through its private `_predict_proba` for classifiers.
        method_name = str(details.get('method_name') or 'predict').lstrip('_')
        block['methods']['run']['method_details'] = {'method_name': method_name}
        serialization = options.get('serialization_method')
        block['runtime'] = {'serialization': serialization} if serialization in ('pickle', 'joblib') else {}
        if options.get('classes') is not None:
            classes = ', '.join(str(c) for c in options['classes'])
            output = block['methods']['run']['output']
            output['description'] = (output.get('description', '') + f' (classes: {classes})').strip()
    elif kind == 'python' and shim == 'python.PythonStaticMethodServable':
        if not details.get('module') or not details.get('method_name'):
            raise ValueError('a PythonStaticMethodServable needs method_details.module and method_name')
        block['python'] = {'module': details['module'], 'function': details['method_name']}
    elif kind == 'python':
        # The name is written into the wrapper module's source: it must be a plain identifier.
        if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', str(details.get('method_name') or '')):
            raise ValueError('a PythonClassMethodServable needs method_details.method_name, a Python identifier')
        block['python'] = {'module': CLASS_MODULE_FILE, 'class_name': 'DLHubClassMethod', 'method': 'run'}
    if kind == 'python':
        python_options = {'autobatch': bool(details.get('autobatch')), 'unpack_inputs': bool(details.get('unpack'))}
        python_options = {k: v for k, v in python_options.items() if v}
        if python_options:
            block['options'] = python_options
    if kind in ('sklearn', 'torch', 'keras') and model_files:
        block['model_file'] = os.path.basename(model_files[0])
    if kind == 'torch':
        warnings.append('DLHub stored torch models with torch.save; the hub runs TorchScript only '
                        '(torch.jit.script or torch.jit.trace, then .save)')
    dependencies = (servable.get('dependencies') or {}).get('python') or {}
    # Unpinned: DLHub recorded the versions of its day (scikit-learn 0.19), which a hub that
    # installs requirements could not find; the recorded version stays as a comment.
    requirements = [f'{package}  # DLHub recorded {version}' if version and version not in ('latest', 'detect') else package
                    for package, version in sorted(dependencies.items())]
    metadata = {'datacite': datacite, 'hub': hub, 'servable': block}
    return metadata, files, requirements, warnings


class DLHubImport(ServableDescription):
    """A servable described by a DLHub document; publish it with ``HubClient.publish_servable``."""

    #: What did not carry over, for a person to read.
    warnings: List[str]


def import_servable_document(document: Any, files: Sequence[str] = (), owner: Optional[str] = None,
                             base_dir: Optional[str] = None, authors: Optional[Sequence[str]] = None) -> DLHubImport:
    """A description ready to publish from a DLHub document (a dict, or the path of its JSON).

    ``files`` are the local model files; each of the document's files is matched with one of the
    same base name, else looked for at its path (relative paths from ``base_dir``, by default the
    document's folder). ``authors`` (``Family, Given``) replace the document's creators; DLHub
    documents written before publishing often have none, and the hub requires one."""
    if isinstance(document, (str, os.PathLike)):
        base_dir = base_dir or os.path.dirname(os.path.abspath(document))
        with open(document, encoding='utf-8') as handle:
            document = json.load(handle)
    base_dir = base_dir or os.getcwd()
    metadata, entries, requirements, warnings = convert_document(document, owner)
    given = {os.path.basename(p): os.path.abspath(p) for p in files}
    for path in files:
        if not os.path.isfile(path):
            raise FileNotFoundError(path)
    description = DLHubImport(metadata['servable'])
    description.datacite = metadata['datacite']
    description.hub = metadata['hub']
    description.warnings = warnings
    if authors:
        description.set_authors(list(authors))
    description.requirements = requirements
    description.facts = {'dlhub_shim': document['servable'].get('shim')}
    used = set()
    for role, path in entries:
        base = os.path.basename(path.rstrip('/'))
        local = given.get(base)
        if local is None:
            candidate = path if os.path.isabs(path) else os.path.join(base_dir, path)
            if os.path.exists(candidate):
                local = os.path.abspath(candidate)
        if local is None:
            raise FileNotFoundError(f'the document\'s {role} file {path} was not given and is not at {path}: '
                                    f'pass it, e.g. import-dlhub doc.json {base}')
        used.add(local)
        if os.path.isdir(local):
            description.add_directory(local, base)
        else:
            description.add_file(local, base)
    for base, local in given.items():
        if local not in used:
            description.add_file(local, base)
    scratch = description._scratch()
    with open(os.path.join(scratch, DOCUMENT_FILE), 'w', encoding='utf-8') as handle:
        json.dump(document, handle, indent=2)
    description.add_file(os.path.join(scratch, DOCUMENT_FILE), DOCUMENT_FILE)
    if requirements:
        with open(os.path.join(scratch, 'requirements.txt'), 'w', encoding='utf-8') as handle:
            handle.write(''.join(f'{r}\n' for r in requirements))
        description.add_file(os.path.join(scratch, 'requirements.txt'), 'requirements.txt')
    if document['servable'].get('shim') == 'python.PythonClassMethodServable':
        pickles = [os.path.basename(p) for role, p in entries if role == 'pickle']
        if not pickles:
            raise ValueError('a PythonClassMethodServable needs its pickle file (dlhub.files.pickle)')
        method = document['servable']['methods']['run']['method_details']['method_name']
        with open(os.path.join(scratch, CLASS_MODULE_FILE), 'w', encoding='utf-8') as handle:
            # json.dumps gives a valid Python string literal, the same text the TS importer writes.
            handle.write(CLASS_MODULE_SOURCE.format(method=method, pickle=pickles[0], pickle_literal=json.dumps(pickles[0])))
        description.add_file(os.path.join(scratch, CLASS_MODULE_FILE), CLASS_MODULE_FILE)
    return description

