/* global URLSearchParams */
// The search page: a query box, facets with counts, hits by relevance or newest first, and pages of
// hits. Its whole state is in the URL (?q=&domain=&type=&owner=&author=&sort=&page=); the hub does
// the ordering, so every page follows the same order.
import { API, api } from './api.js';
import { clear, h, setTitle } from './dom.js';

const PAGE_SIZE = 20;
const FACETS = [
  ['domain', 'Domain'],
  ['type', 'Type'],
  ['owner', 'Owner'],
  ['author', 'Author'],
  ['reproducibility', 'Reproducibility'],
];
const FILTERS = FACETS.map(([key]) => key);
// The orders the page offers: the search API's own, applied by the hub across every page.
const SORTS = [
  ['relevance', 'Most relevant'],
  ['newest', 'Newest'],
  ['title', 'Title A–Z'],
];

function readState(params) {
  const page = Number.parseInt(params.get('page') ?? '1', 10);
  const state = {
    q: (params.get('q') ?? '').trim(),
    sort: SORTS.some(([value]) => value === params.get('sort')) ? params.get('sort') : 'relevance',
    page: Number.isFinite(page) && page > 0 ? page : 1,
  };
  for (const key of FILTERS) state[key] = params.get(key) ?? '';
  return state;
}

/** The URL of the search page for a state, leaving out defaults. */
function hrefFor(state, changes = {}) {
  const next = { ...state, page: 1, ...changes };
  const params = new URLSearchParams();
  if (next.q) params.set('q', next.q);
  for (const key of FILTERS) if (next[key]) params.set(key, next[key]);
  if (next.sort !== 'relevance') params.set('sort', next.sort);
  if (next.page > 1) params.set('page', String(next.page));
  const query = params.toString();
  return query ? `/?${query}` : '/';
}

function searchQuery(state, limit, offset) {
  const params = new URLSearchParams({ limit: String(limit), offset: String(offset) });
  if (state.q) params.set('q', state.q);
  for (const key of FILTERS) if (state[key]) params.set(key, state[key]);
  if (state.sort !== 'relevance') params.set('sort', state.sort);
  return `${API}/search?${params}`;
}

function load(state) {
  return api(searchQuery(state, PAGE_SIZE, (state.page - 1) * PAGE_SIZE));
}

function searchForm(state) {
  const hidden = FILTERS.filter((key) => state[key]).map((key) => h('input', { type: 'hidden', name: key, value: state[key] }));
  if (state.sort !== 'relevance') hidden.push(h('input', { type: 'hidden', name: 'sort', value: state.sort }));
  return h('form', { role: 'search', action: '/', method: 'get', class: 'search-form' },
    h('label', { for: 'search-q' }, 'Search models by title, description, author, domain or identifier'),
    h('div', { class: 'search-row' },
      h('input', { id: 'search-q', name: 'q', type: 'search', value: state.q, placeholder: 'e.g. digit, speech, Curie', autocomplete: 'off' }),
      h('button', { type: 'submit' }, 'Search')),
    hidden);
}

function facetList(state, key, label, counts) {
  const entries = Object.entries(counts ?? {});
  if (entries.length === 0 && !state[key]) return null;
  const headingId = `facet-${key}-heading`;
  const items = entries.map(([value, count]) => {
    const selected = state[key] === value;
    return h('li', null,
      h('a', {
        href: hrefFor(state, { [key]: selected ? '' : value }),
        class: selected ? 'facet selected' : 'facet',
        'aria-current': selected ? 'true' : null,
        'data-facet': key,
        'data-value': value,
      },
      h('span', { class: 'facet-value' }, value),
      h('span', { class: 'count' }, h('span', { class: 'visually-hidden' }, ', '), String(count), h('span', { class: 'visually-hidden' }, count === 1 ? ' model' : ' models')),
      selected ? h('span', { class: 'visually-hidden' }, ' (selected; follow to remove)') : null));
  });
  if (state[key] && !counts?.[state[key]]) {
    items.unshift(h('li', null, h('a', { href: hrefFor(state, { [key]: '' }), class: 'facet selected', 'aria-current': 'true' }, h('span', { class: 'facet-value' }, state[key]), h('span', { class: 'count' }, '0'))));
  }
  return h('section', { class: 'facet-group', 'aria-labelledby': headingId }, h('h3', { id: headingId }, label), h('ul', { class: 'facet-list' }, items));
}

function activeFilters(state) {
  const active = FILTERS.filter((key) => state[key]);
  if (active.length === 0) return null;
  return h('ul', { class: 'chips', 'aria-label': 'Active filters' },
    active.map((key) => h('li', null, h('a', { href: hrefFor(state, { [key]: '' }), class: 'chip', 'aria-label': `Remove filter ${key}: ${state[key]}` }, `${key}: ${state[key]} `, h('span', { 'aria-hidden': 'true' }, '×')))),
    active.length > 1 ? h('li', null, h('a', { href: hrefFor({ ...state, domain: '', type: '', owner: '', author: '', reproducibility: '' }), class: 'chip clear' }, 'Clear all filters')) : null);
}

function sortLinks(state) {
  const option = (value, label) =>
    h('li', null, h('a', { href: hrefFor(state, { sort: value }), 'aria-current': state.sort === value ? 'true' : null, class: state.sort === value ? 'selected' : null }, label));
  return h('nav', { class: 'sort', 'aria-label': 'Sort results' }, h('span', { class: 'sort-label', 'aria-hidden': 'true' }, 'Sort:'), h('ul', null, SORTS.map(([value, label]) => option(value, label))));
}

function hitCard(hit, state) {
  const [owner, name] = hit.servable.split('/');
  return h('li', { class: 'hit' },
    h('article', { 'aria-labelledby': `hit-${owner}-${name}` },
      h('h3', { id: `hit-${owner}-${name}` }, h('a', { href: `/models/${owner}/${name}` }, hit.title || hit.servable)),
      h('p', { class: 'hit-meta' },
        h('code', null, hit.servable), ' · ', `version ${hit.version}`, ' · ', h('span', { class: 'badge' }, hit.type)),
      hit.authors?.length ? h('p', { class: 'hit-authors' }, h('span', { class: 'visually-hidden' }, 'Authors: '), hit.authors.join('; ')) : null,
      hit.domains?.length
        ? h('ul', { class: 'tags', 'aria-label': 'Domains' }, hit.domains.map((domain) => h('li', null, h('a', { href: hrefFor(state, { domain }) }, domain))))
        : null,
      h('p', { class: 'hit-identifier' }, h('span', { class: 'visually-hidden' }, 'Identifier: '), hit.identifier)));
}

function pager(state, total) {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  if (pages <= 1) return null;
  return h('nav', { class: 'pager', 'aria-label': 'Result pages' },
    state.page > 1 ? h('a', { href: hrefFor(state, { page: state.page - 1 }), rel: 'prev' }, '← Previous') : h('span', { class: 'disabled', 'aria-hidden': 'true' }, '← Previous'),
    h('span', { class: 'page-of' }, `Page ${state.page} of ${pages}`),
    state.page < pages ? h('a', { href: hrefFor(state, { page: state.page + 1 }), rel: 'next' }, 'Next →') : h('span', { class: 'disabled', 'aria-hidden': 'true' }, 'Next →'));
}

export async function renderSearchPage(main, params) {
  const state = readState(params);
  setTitle(state.q ? `“${state.q}”` : 'Search models');
  const reply = await load(state);
  const first = reply.total === 0 ? 0 : (state.page - 1) * PAGE_SIZE + 1;
  const last = (state.page - 1) * PAGE_SIZE + reply.hits.length;
  const summary = reply.total === 0 ? 'No models match' : `${reply.total} ${reply.total === 1 ? 'model' : 'models'}${reply.total > reply.hits.length ? `, showing ${first}–${last}` : ''}`;

  clear(main).append(
    h('div', { class: 'search-intro' },
      h('h1', null, 'Find a model'),
      h('p', { class: 'lede' }, 'Search the models published on this hub, read their cards, cite them and try them in the browser.'),
      searchForm(state)),
    h('div', { class: 'search-layout' },
      h('aside', { class: 'facets', 'aria-labelledby': 'facets-heading' },
        h('h2', { id: 'facets-heading' }, 'Filter'),
        FACETS.map(([key, label]) => facetList(state, key, label, reply.facets?.[key]))),
      h('section', { class: 'results', 'aria-labelledby': 'results-heading' },
        h('div', { class: 'results-head' }, h('h2', { id: 'results-heading' }, summary), sortLinks(state)),
        activeFilters(state),
        reply.hits.length
          ? h('ol', { class: 'hits', start: String(first) }, reply.hits.map((hit) => hitCard(hit, state)))
          : h('p', { class: 'empty' }, state.q || FILTERS.some((key) => state[key]) ? 'Try fewer words or remove a filter.' : 'Nothing is published on this hub yet.'),
        pager(state, reply.total))),
  );
}
