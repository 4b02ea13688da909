// "Cite this model": every format the hub's citation route serves, with a copy button. A hub
// without that route still gets a citation, built here from the DataCite metadata and marked so.
import { ApiError, api, servablePath } from './api.js';
import { copyButton, h, prettyJson } from './dom.js';

export const CITATION_FORMATS = [
  ['bibtex', 'BibTeX'],
  ['apa', 'APA'],
  ['ris', 'RIS'],
  ['csl', 'CSL JSON'],
  ['datacite-json', 'DataCite JSON'],
  ['datacite-xml', 'DataCite XML'],
];

const LOCAL_FORMATS = [
  ['local-bibtex', 'BibTeX'],
  ['local-text', 'Plain text'],
];

function creators(document) {
  return (document.datacite.creators ?? []).map((creator) => creator.name);
}

function year(document) {
  return document.datacite.publicationYear ?? (document.hub.publication_date ?? '').slice(0, 4) ?? '';
}

function identifierUrl(document) {
  const identifier = document.datacite.identifier;
  if (identifier?.identifierType === 'DOI') return `https://doi.org/${identifier.identifier}`;
  return undefined;
}

/** Built in the browser from the metadata, only when the hub has no citation route. */
function localCitation(document, format) {
  const title = document.datacite.titles[0]?.title ?? `${document.hub.owner}/${document.hub.name}`;
  const id = document.hub.identifier ?? document.datacite.identifier?.identifier ?? '';
  const publisher = document.datacite.publisher ?? 'modelhub';
  const version = document.hub.version;
  if (format === 'local-text') {
    const url = identifierUrl(document);
    return `${creators(document).join('; ')} (${year(document)}). ${title} (Version ${version}) [Computational model]. ${publisher}. ${url ?? id}`;
  }
  const key = `${document.hub.owner}_${document.hub.name}_v${version}`.replace(/[^A-Za-z0-9_]/g, '_');
  const doi = document.datacite.identifier?.identifierType === 'DOI' ? document.datacite.identifier.identifier : undefined;
  const fields = [
    ['author', creators(document).map((name) => `{${name}}`).join(' and ')],
    ['title', `{${title}}`],
    ['year', year(document)],
    ['publisher', publisher],
    ['version', String(version)],
    doi ? ['doi', doi] : ['note', `Identifier: ${id}`],
  ];
  return `@misc{${key},\n${fields.map(([field, value]) => `  ${field} = {${value}}`).join(',\n')}\n}`;
}

export function citationBlock(document, ref, announce) {
  const select = h('select', { id: 'cite-format', name: 'format' }, CITATION_FORMATS.map(([value, label]) => h('option', { value }, label)));
  const text = h('pre', { id: 'citation-text', class: 'citation', tabindex: '0', 'aria-labelledby': 'cite-format-label', 'aria-live': 'polite' }, 'Loading…');
  const notice = h('p', { class: 'hint', id: 'citation-notice' });
  const path = (format) => `${servablePath(ref.owner, ref.name, document.hub.version)}/citation?format=${encodeURIComponent(format)}`;
  const link = h('a', { href: path(select.value), id: 'citation-link', class: 'secondary-link' }, 'Open as a file');
  const cache = new Map();
  let local = false;

  const show = async (format) => {
    if (format.startsWith('local-')) {
      text.textContent = localCitation(document, format);
      return;
    }
    text.textContent = 'Loading…';
    try {
      if (!cache.has(format)) cache.set(format, api(path(format), { text: true }));
      let body = await cache.get(format);
      if (format === 'csl' || format === 'datacite-json') {
        try {
          body = prettyJson(JSON.parse(body));
        } catch {
          // Not JSON after all: show it as it came.
        }
      }
      if (select.value === format) text.textContent = body.trimEnd();
    } catch (error) {
      cache.delete(format);
      // No citation route on this hub (yet): fall back to what the metadata alone can give.
      if (!local && error instanceof ApiError && error.status === 404 && error.code === 'MODELHUB_ROUTE_NOT_FOUND') {
        local = true;
        link.remove();
        select.replaceChildren(...LOCAL_FORMATS.map(([value, label]) => h('option', { value }, label)));
        notice.textContent = 'This hub does not serve citations yet: these were built in your browser from the model’s metadata.';
        await show(select.value);
        return;
      }
      if (select.value === format) text.textContent = `${error.code ?? 'ERROR'}: ${error.message}`;
    }
  };
  select.addEventListener('change', () => {
    if (!local) link.href = path(select.value);
    void show(select.value);
  });
  void show(select.value);

  return h('div', { class: 'citation-block' },
    h('div', { class: 'field inline' }, h('label', { for: 'cite-format', id: 'cite-format-label' }, 'Citation format'), select),
    notice,
    text,
    h('div', { class: 'button-row' },
      copyButton('Copy citation', text, announce, 'copy-citation'),
      link));
}
