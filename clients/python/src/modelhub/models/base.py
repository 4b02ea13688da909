"""The description every model class builds (DLHub's ``BaseServableModel``, and the TS SDK's
``ServableDescription``): DataCite setters, the hub block, the run method's argument types, the
files to upload, ``to_metadata()``, and ``test_locally(inputs)`` that runs the servable here, in
this process, the way the hub's Python worker will run it.
"""

from __future__ import annotations

import copy
import os
import posixpath
import re
import shutil
import tempfile
import weakref
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ['ServableDescription', 'MetadataError', 'argument_type', 'ORCID_PATTERN']

OWNER_PATTERN = re.compile(r'^[a-z0-9][a-z0-9-]{0,38}$')
NAME_PATTERN = re.compile(r'^[a-z0-9][a-z0-9._-]{0,63}$')
ORCID_PATTERN = re.compile(r'^(https://orcid\.org/)?\d{4}-\d{4}-\d{4}-\d{3}[\dX]$')

RELATION_TYPES = (
    'IsCitedBy', 'Cites', 'IsSupplementTo', 'IsSupplementedBy', 'IsContinuedBy', 'Continues',
    'IsDescribedBy', 'Describes', 'HasMetadata', 'IsMetadataFor', 'HasVersion', 'IsVersionOf',
    'IsNewVersionOf', 'IsPreviousVersionOf', 'IsPartOf', 'HasPart', 'IsReferencedBy', 'References',
    'IsDocumentedBy', 'Documents', 'IsCompiledBy', 'Compiles', 'IsVariantFormOf', 'IsOriginalFormOf',
    'IsIdenticalTo', 'IsReviewedBy', 'Reviews', 'IsDerivedFrom', 'IsSourceOf', 'IsRequiredBy',
    'Requires', 'IsObsoletedBy', 'Obsoletes',
)
RELATED_IDENTIFIER_TYPES = (
    'ARK', 'arXiv', 'bibcode', 'DOI', 'EAN13', 'EISSN', 'Handle', 'IGSN', 'ISBN', 'ISSN', 'ISTC',
    'LISSN', 'LSID', 'PMID', 'PURL', 'UPC', 'URL', 'URN', 'w3id',
)
DTYPES = ('bool', 'uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'int32', 'int64',
          'float16', 'float32', 'float64', 'string')
SIMPLE_TYPES = ('number', 'integer', 'string', 'boolean', 'file', 'any')


class MetadataError(ValueError):
    """The description is incomplete or invalid; ``problems`` lists ``(path, message)`` pairs.

    Raised before anything is sent, as the hub would answer 400 MODELHUB_INVALID_METADATA."""

    code = 'MODELHUB_INVALID_METADATA'

    def __init__(self, problems: List[Tuple[str, str]]):
        super().__init__('The metadata document is invalid:\n' + '\n'.join(f'  {p or "/"}: {m}' for p, m in problems))
        self.problems = problems


def argument_type(data_type: str, description: Optional[str] = None, shape: Optional[Sequence[Optional[int]]] = None,
                  dtype: Optional[str] = None, item_type: Any = None, properties: Optional[Dict[str, Any]] = None,
                  element_types: Optional[Sequence[Any]] = None) -> Dict[str, Any]:
    """An argument type in the hub's schema, from DLHub-style arguments (``'ndarray', shape=[None, 4]``).

    DLHub's ``float``/``int``/``bool``/``str`` names map to ``number``/``integer``/``boolean``/``string``,
    and an ndarray's ``item_type`` to its ``dtype``."""
    aliases = {'float': 'number', 'int': 'integer', 'bool': 'boolean', 'str': 'string', 'python object': 'any'}
    data_type = aliases.get(data_type, data_type)
    if data_type == 'ndarray':
        if dtype is None:
            item = item_type.get('type') if isinstance(item_type, dict) else item_type
            dtype = {'float': 'float64', 'integer': 'int64', 'int': 'int64', 'boolean': 'bool', 'bool': 'bool',
                     'string': 'string', 'str': 'string', None: 'float64'}.get(item, item if item in DTYPES else 'float64')
        result: Dict[str, Any] = {'type': 'ndarray', 'shape': list(shape) if shape is not None else [None], 'dtype': dtype}
    elif data_type == 'list':
        item = item_type if isinstance(item_type, dict) else argument_type(item_type or 'any')
        if 'description' in item and not item['description']:
            item.pop('description')
        result = {'type': 'list', 'item_type': _normalize_type(item)}
    elif data_type == 'dict':
        result = {'type': 'dict', 'properties': {k: _normalize_type(v) for k, v in (properties or {}).items()}}
    elif data_type == 'tuple':
        result = {'type': 'tuple', 'element_types': [_normalize_type(e) for e in (element_types or [])]}
    elif data_type in SIMPLE_TYPES:
        result = {'type': data_type}
    else:
        raise ValueError(f'unknown argument type {data_type!r}: use ndarray, list, dict, tuple or one of {", ".join(SIMPLE_TYPES)}')
    if description:
        result['description'] = description
    return result


def _normalize_type(value: Any) -> Dict[str, Any]:
    """Accept DLHub-shaped types (``{"type": "float"}``, ndarray ``item_type``) inside lists and dicts."""
    if isinstance(value, str):
        return argument_type(value)
    if not isinstance(value, dict) or 'type' not in value:
        return {'type': 'any'}
    kind = value['type']
    return argument_type(kind, value.get('description'), shape=value.get('shape'), dtype=value.get('dtype'),
                         item_type=value.get('item_type'), properties=value.get('properties'),
                         element_types=value.get('element_types'))


def _creator(author: str, affiliations: Optional[Sequence[str]] = None, orcid: Optional[str] = None) -> Dict[str, Any]:
    family, _, given = author.partition(',')
    creator: Dict[str, Any] = {'name': author.strip(), 'nameType': 'Personal'}
    if given.strip():
        creator['familyName'] = family.strip()
        creator['givenName'] = given.strip()
    if affiliations:
        creator['affiliation'] = list(affiliations)
    if orcid:
        creator['orcid'] = orcid
        bare = orcid.replace('https://orcid.org/', '')
        creator['nameIdentifiers'] = [{'nameIdentifier': f'https://orcid.org/{bare}', 'nameIdentifierScheme': 'ORCID',
                                       'schemeUri': 'https://orcid.org'}]
    return creator


class ServableDescription:
    """Chainable setters, as the TS SDK's (``set_title`` for ``setTitle``) and DLHub's."""

    #: The hub's servable type (``sklearn``, ``torch``, ``python``, ``keras``, ``onnx``).
    servable_type = 'python'

    def __init__(self, servable: Dict[str, Any]):
        self.datacite: Dict[str, Any] = {'resourceType': {'resourceTypeGeneral': 'Model'}}
        self.hub: Dict[str, Any] = {'type': 'servable'}
        self.servable: Dict[str, Any] = copy.deepcopy(servable)
        self._files: List[Tuple[str, str]] = []  # (local path, path inside the servable)
        #: What was read from the live object (estimator class, classes, signature ...).
        self.facts: Dict[str, Any] = {}
        #: PEP 508 requirements the servable needs (also written to requirements.txt when packaged).
        self.requirements: List[str] = []
        self._workdir: Optional[str] = None

    # ---- DataCite and hub block -----------------------------------------------------------------

    def set_title(self, title: str) -> 'ServableDescription':
        self.datacite['titles'] = [{'title': title}]
        return self

    def set_name(self, name: str) -> 'ServableDescription':
        """``name``, or ``owner/name`` to set both."""
        if '/' in name:
            owner, _, short = name.partition('/')
            self.hub['owner'] = owner
            self.hub['name'] = short
        else:
            self.hub['name'] = name
        return self

    def set_owner(self, owner: str) -> 'ServableDescription':
        self.hub['owner'] = owner
        return self

    def set_authors(self, authors: Sequence[str], affiliations: Optional[Sequence[Sequence[str]]] = None,
                    orcids: Optional[Sequence[Optional[str]]] = None) -> 'ServableDescription':
        """Authors as DataCite writes them, ``Family, Given``; ``affiliations[i]`` and ``orcids[i]``
        belong to ``authors[i]``."""
        if isinstance(authors, str):
            authors = [authors]
        self.datacite['creators'] = [
            _creator(a, affiliations[i] if affiliations and i < len(affiliations) else None,
                     orcids[i] if orcids and i < len(orcids) else None)
            for i, a in enumerate(authors)
        ]
        return self

    # DLHub's name for the same thing.
    def set_creators(self, creators: Sequence[str], affiliations: Optional[Sequence[Sequence[str]]] = None) -> 'ServableDescription':
        return self.set_authors(creators, affiliations or None)

    def set_domains(self, domains: Sequence[str]) -> 'ServableDescription':
        """Scientific domains, searchable with ``SearchQuery.match_domains``."""
        if isinstance(domains, str):
            domains = [domains]
        self.hub['domains'] = list(domains)
        self.datacite['subjects'] = [{'subject': d} for d in domains]
        return self

    def set_description(self, description: str, description_type: str = 'Abstract') -> 'ServableDescription':
        others = [d for d in self.datacite.get('descriptions', []) if d.get('descriptionType') != description_type]
        self.datacite['descriptions'] = others + [{'description': description, 'descriptionType': description_type}]
        return self

    # DLHub's name.
    def set_abstract(self, abstract: str) -> 'ServableDescription':
        return self.set_description(abstract, 'Abstract')

    def add_related_identifier(self, identifier: str, identifier_type: str = 'DOI',
                               relation_type: str = 'IsDescribedBy') -> 'ServableDescription':
        self.datacite.setdefault('relatedIdentifiers', []).append(
            {'relatedIdentifier': identifier, 'relatedIdentifierType': identifier_type, 'relationType': relation_type})
        return self

    # DLHub's name.
    def add_related_resource(self, identifier: str, identifier_type: str = 'DOI',
                             relation_type: str = 'IsDescribedBy') -> 'ServableDescription':
        return self.add_related_identifier(identifier, identifier_type, relation_type)

    def set_license(self, rights: str, rights_uri: Optional[str] = None) -> 'ServableDescription':
        entry: Dict[str, Any] = {'rights': rights}
        if rights_uri:
            entry['rightsUri'] = rights_uri
        if re.match(r'^[A-Za-z0-9.+-]+$', rights):
            entry['rightsIdentifier'] = rights
        self.datacite['rightsList'] = [entry]
        return self

    def add_funding(self, funder_name: str, award_number: Optional[str] = None, award_title: Optional[str] = None,
                    funder_identifier: Optional[str] = None) -> 'ServableDescription':
        entry = {'funderName': funder_name, 'awardNumber': award_number, 'awardTitle': award_title,
                 'funderIdentifier': funder_identifier}
        self.datacite.setdefault('fundingReferences', []).append({k: v for k, v in entry.items() if v})
        return self

    def set_visibility(self, visibility: str, users: Optional[Sequence[str]] = None,
                       groups: Optional[Sequence[str]] = None) -> 'ServableDescription':
        """``public`` or ``private`` (visible to its owner, and to the users and groups named)."""
        self.hub['visibility'] = visibility
        if users or groups:
            self.hub['shared_with'] = {**({'users': list(users)} if users else {}), **({'groups': list(groups)} if groups else {})}
        return self

    def set_publication_year(self, year: Any) -> 'ServableDescription':
        self.datacite['publicationYear'] = str(year)
        return self

    # ---- the run method ---------------------------------------------------------------------------

    def set_inputs(self, data_type: str, description: Optional[str] = None, **kwargs: Any) -> 'ServableDescription':
        """DLHub's ``set_inputs('ndarray', 'Features', shape=[None, 4])``."""
        self.servable['methods']['run']['input'] = argument_type(data_type, description, **kwargs)
        return self

    def set_outputs(self, data_type: str, description: Optional[str] = None, **kwargs: Any) -> 'ServableDescription':
        self.servable['methods']['run']['output'] = argument_type(data_type, description, **kwargs)
        return self

    def set_input_description(self, description: str) -> 'ServableDescription':
        self.servable['methods']['run']['input']['description'] = description
        return self

    def set_output_description(self, description: str) -> 'ServableDescription':
        self.servable['methods']['run']['output']['description'] = description
        return self

    def set_method_description(self, description: str) -> 'ServableDescription':
        self.servable['methods']['run']['description'] = description
        return self

    def set_deterministic(self, deterministic: bool) -> 'ServableDescription':
        self.servable.setdefault('options', {})['deterministic'] = deterministic
        return self

    def set_batching(self, max_batch_size: Optional[int] = None, max_queue_delay_us: Optional[int] = None) -> 'ServableDescription':
        batching: Dict[str, Any] = {'enabled': True}
        if max_batch_size is not None:
            batching['max_batch_size'] = max_batch_size
        if max_queue_delay_us is not None:
            batching['max_queue_delay_us'] = max_queue_delay_us
        self.servable.setdefault('options', {})['batching'] = batching
        return self

    def set_environment(self, python: Optional[Sequence[str]] = None, debian: Optional[Sequence[str]] = None) -> 'ServableDescription':
        """Declare ``servable.environment``: PEP 508 requirements and Debian packages the hub installs
        (on hubs that support environments; others refuse the document as invalid)."""
        environment: Dict[str, Any] = {}
        if python:
            environment['python'] = list(python)
            self.requirements = list(python)
        if debian:
            environment['debian'] = list(debian)
        self.servable['environment'] = environment
        return self

    # ---- files ------------------------------------------------------------------------------------

    def add_file(self, local_path: str, path_in_servable: Optional[str] = None) -> 'ServableDescription':
        target = (path_in_servable or os.path.basename(local_path)).replace(os.sep, '/').lstrip('/')
        parts = target.split('/')
        if not target or any(p in ('', '..') for p in parts):
            raise ValueError(f'{path_in_servable!r} is not a relative path inside the servable')
        entry = (os.path.abspath(local_path), target)
        self._files = [f for f in self._files if f[1] != target] + [entry]
        return self

    def add_directory(self, local_dir: str, prefix: str = '') -> 'ServableDescription':
        for root, dirs, files in os.walk(local_dir):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                relative = os.path.relpath(full, local_dir).replace(os.sep, '/')
                self.add_file(full, posixpath.join(prefix, relative) if prefix else relative)
        return self

    # DLHub's names.
    def add_files(self, paths: Sequence[str]) -> 'ServableDescription':
        for path in paths:
            self.add_file(path)
        return self

    def files(self) -> List[Tuple[str, str]]:
        """``(local path, path inside the servable)`` for each file to upload."""
        return list(self._files)

    def list_files(self) -> List[str]:
        return [local for local, _ in self._files]

    def _scratch(self) -> str:
        """A private folder for files made from live objects; removed with the description."""
        if self._workdir is None:
            self._workdir = tempfile.mkdtemp(prefix='modelhub-servable-')
            weakref.finalize(self, shutil.rmtree, self._workdir, True)
        return self._workdir

    # ---- the document -----------------------------------------------------------------------------

    def draft_metadata(self) -> Dict[str, Any]:
        return copy.deepcopy({'datacite': self.datacite, 'hub': self.hub, 'servable': self.servable})

    def to_metadata(self) -> Dict[str, Any]:
        """The complete document; raises MetadataError listing what is missing or wrong."""
        document = self.draft_metadata()
        problems: List[Tuple[str, str]] = []
        if not document['datacite'].get('titles'):
            problems.append(('/datacite/titles', 'a title is required: set_title("...")'))
        if not document['datacite'].get('creators'):
            problems.append(('/datacite/creators', 'at least one author is required: set_authors(["Family, Given"])'))
        for i, creator in enumerate(document['datacite'].get('creators', [])):
            if creator.get('orcid') and not ORCID_PATTERN.match(creator['orcid']):
                problems.append((f'/datacite/creators/{i}/orcid', f'{creator["orcid"]!r} is not an ORCID iD'))
        for i, related in enumerate(document['datacite'].get('relatedIdentifiers', [])):
            if related['relatedIdentifierType'] not in RELATED_IDENTIFIER_TYPES:
                problems.append((f'/datacite/relatedIdentifiers/{i}/relatedIdentifierType',
                                 f'must be one of {", ".join(RELATED_IDENTIFIER_TYPES)}'))
            if related['relationType'] not in RELATION_TYPES:
                problems.append((f'/datacite/relatedIdentifiers/{i}/relationType', f'must be one of {", ".join(RELATION_TYPES)}'))
        owner, name = document['hub'].get('owner'), document['hub'].get('name')
        if not owner:
            problems.append(('/hub/owner', 'an owner is required: set_name("owner/name")'))
        elif not OWNER_PATTERN.match(owner):
            problems.append(('/hub/owner', f'{owner!r} must match {OWNER_PATTERN.pattern}'))
        if not name:
            problems.append(('/hub/name', 'a name is required: set_name("owner/name")'))
        elif not NAME_PATTERN.match(name):
            problems.append(('/hub/name', f'{name!r} must match {NAME_PATTERN.pattern}'))
        if problems:
            raise MetadataError(problems)
        return document

    # ---- local runs -------------------------------------------------------------------------------

    def _worker_spec(self, files_dir: str) -> Dict[str, Any]:
        """The spec dictionary the hub's Python worker loads (servables/python/worker.py)."""
        raise NotImplementedError(f'{type(self).__name__} cannot run locally')

    def _local_call(self, target: Any, inputs: Any, method: str) -> Any:
        raise NotImplementedError(f'{type(self).__name__} cannot run locally')

    def test_locally(self, inputs: Any, method: str = 'run') -> Any:
        """Run the servable here, from the files that will be uploaded (not the live object), so a
        packaging mistake shows before publishing. Returns what the hub's ``run`` would return,
        as JSON values (lists, numbers, strings)."""
        from ._local import run_from_files

        return run_from_files(self, inputs, method)

    def __getitem__(self, block: str) -> Dict[str, Any]:
        """DLHub's item access to the live blocks: ``model['servable']['methods']['run']``
        (``'dlhub'`` is this hub's ``hub`` block)."""
        blocks = {'datacite': self.datacite, 'hub': self.hub, 'dlhub': self.hub, 'servable': self.servable}
        if block not in blocks:
            raise KeyError(block)
        return blocks[block]

    def __repr__(self) -> str:
        owner, name = self.hub.get('owner', '?'), self.hub.get('name', '?')
        return f'<{type(self).__name__} {owner}/{name} ({self.servable.get("type")}), {len(self._files)} file(s)>'
