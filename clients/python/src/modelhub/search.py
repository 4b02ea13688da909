"""Search queries built as DLHub's ``SearchHelper`` builds them (``match_domains``,
``match_authors`` ...), sent as ``GET /api/v1/search`` parameters. Several values for one field
match any of them. Iterating a query walks every page."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from .documents import SearchResults

__all__ = ['SearchQuery', 'SEARCH_SORTS']

SEARCH_SORTS = ('relevance', 'newest', 'title')


class SearchQuery:
    def __init__(self, client: Any = None):
        self._client = client
        self._words: List[str] = []
        self._domains: List[str] = []
        self._authors: List[str] = []
        self._owner: Optional[str] = None
        self._type: Optional[str] = None
        self._doi: Optional[str] = None
        self._latest: Optional[bool] = None
        self._limit: Optional[int] = None
        self._offset: Optional[int] = None
        self._sort: Optional[str] = None

    def text(self, text: str) -> 'SearchQuery':
        """Free text over titles, descriptions, authors and domains."""
        if text and text.strip():
            self._words.append(text.strip())
        return self

    def match_domains(self, domains: Union[str, Sequence[str]]) -> 'SearchQuery':
        self._domains += [d for d in ([domains] if isinstance(domains, str) else domains) if d.strip()]
        return self

    def match_authors(self, authors: Union[str, Sequence[str]]) -> 'SearchQuery':
        """``Family, Given`` or a family name alone."""
        self._authors += [a for a in ([authors] if isinstance(authors, str) else authors) if a.strip()]
        return self

    def match_owner(self, owner: str) -> 'SearchQuery':
        self._owner = owner
        return self

    def match_type(self, servable_type: str) -> 'SearchQuery':
        """``onnx``, ``keras``, ``tfjs``, ``python``, ``sklearn``, ``torch``, ``container`` ..."""
        self._type = servable_type
        return self

    def match_doi(self, doi: str) -> 'SearchQuery':
        """A related identifier (the paper's DOI) or the servable's own identifier."""
        self._doi = doi
        return self

    def latest_only(self, latest: bool = True) -> 'SearchQuery':
        self._latest = latest
        return self

    def sort_by(self, sort: str) -> 'SearchQuery':
        """``relevance`` (the hub's default), ``newest`` or ``title``, applied across pages."""
        if sort not in SEARCH_SORTS:
            raise ValueError(f'sort_by takes one of {", ".join(SEARCH_SORTS)}, not {sort!r}')
        self._sort = sort
        return self

    def limit(self, limit: int) -> 'SearchQuery':
        """Hits per page (the hub allows up to 500)."""
        self._limit = limit
        return self

    def offset(self, offset: int) -> 'SearchQuery':
        self._offset = offset
        return self

    def to_params(self) -> Dict[str, Any]:
        params: Dict[str, Any] = {}
        if self._words:
            params['q'] = ' '.join(self._words)
        if self._owner:
            params['owner'] = self._owner
        # Several values go comma- (domains) or semicolon- (authors, who contain commas) separated.
        if self._domains:
            params['domain'] = ','.join(self._domains)
        if self._authors:
            params['author'] = ';'.join(self._authors)
        if self._type:
            params['type'] = self._type
        if self._doi:
            params['doi'] = self._doi
        if self._limit is not None:
            params['limit'] = self._limit
        if self._offset is not None:
            params['offset'] = self._offset
        if self._latest is not None:
            params['latest'] = self._latest
        if self._sort is not None:
            params['sort'] = self._sort
        return params

    # ---- running it -------------------------------------------------------------------------------

    def _require_client(self) -> Any:
        if self._client is None:
            raise RuntimeError('this query has no hub: make it with hub.query(), or pass it to hub.search(query)')
        return self._client

    def search(self) -> SearchResults:
        """The first page (from ``offset``)."""
        return self._require_client().search(self)

    def pages(self) -> Iterator[SearchResults]:
        return self.search().pages()

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        """Every hit, page after page."""
        return self.search().all()

    def __repr__(self) -> str:
        return f'SearchQuery({self.to_params()!r})'
