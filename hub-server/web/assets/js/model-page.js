/* global URL */
// The model card: what the model is and who made it, how to call it, how to cite it, its
// versions and files, and a form to try it. Everything comes from the metadata document the hub
// API serves for this version (`/api/v1/servables/{owner}/{name}[/versions/{v}]`).
import { api, servablePath } from './api.js';
import { citationBlock } from './citations.js';
import { clear, formatBytes, formatDate, h, liveRegion, prettyJson, section, setTitle } from './dom.js';
import { argumentTable } from './io-types.js';
import { usageExamples } from './snippets.js';
import { tryItForm } from './try-it.js';
import { usageSection } from './usage-section.js';

const ORCID_ID = /(\d{4}-\d{4}-\d{4}-\d{3}[\dX])$/;

function orcidOf(creator) {
  const declared = creator.orcid ?? creator.nameIdentifiers?.find((id) => /^orcid$/i.test(id.nameIdentifierScheme))?.nameIdentifier;
  return declared ? ORCID_ID.exec(declared)?.[1] : undefined;
}

/** Only http(s) links leave the page: a related identifier is someone else's text. */
function safeUrl(text) {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

function relatedUrl(related) {
  const id = related.relatedIdentifier.trim();
  switch (related.relatedIdentifierType) {
    case 'DOI':
      return `https://doi.org/${id.replace(/^(https?:\/\/(dx\.)?doi\.org\/|doi:)/i, '')}`;
    case 'arXiv':
      return `https://arxiv.org/abs/${id.replace(/^arxiv:/i, '')}`;
    case 'PMID':
      return `https://pubmed.ncbi.nlm.nih.gov/${encodeURIComponent(id)}/`;
    case 'Handle':
      return `https://hdl.handle.net/${id}`;
    default:
      return safeUrl(id);
  }
}

/** "IsDerivedFrom" → "is derived from". */
const relationText = (relation) => relation.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();

function authorsList(creators) {
  return h('ul', { class: 'authors' }, creators.map((creator) => {
    const orcid = orcidOf(creator);
    return h('li', null,
      h('span', { class: 'author-name' }, creator.name),
      creator.affiliation?.length ? h('span', { class: 'affiliation' }, ` (${creator.affiliation.join('; ')})`) : null,
      orcid
        ? [' ', h('a', { href: `https://orcid.org/${orcid}`, class: 'orcid', rel: 'author', 'aria-label': `ORCID iD of ${creator.name}: ${orcid}` }, h('span', { class: 'orcid-badge', 'aria-hidden': 'true' }, 'iD'), ` ${orcid}`)]
        : null);
  }));
}

function identifierView(document) {
  const identifier = document.datacite.identifier ?? (document.hub.identifier ? { identifier: document.hub.identifier, identifierType: 'LOCAL' } : undefined);
  if (!identifier) return h('span', null, 'none yet');
  if (identifier.identifierType === 'DOI') return h('a', { href: `https://doi.org/${identifier.identifier}`, id: 'model-identifier' }, `doi:${identifier.identifier}`);
  return h('span', null,
    h('code', { id: 'model-identifier' }, identifier.identifier), ' ',
    h('a', { href: `/api/v1/identifiers/${encodeURIComponent(identifier.identifier)}`, class: 'secondary-link' }, 'resolve'));
}

function definitionList(rows) {
  return h('dl', { class: 'facts' }, rows.filter(([, value]) => value !== undefined && value !== null && value !== '').map(([term, value]) => [h('dt', null, term), h('dd', null, value)]));
}

function aboutSection(document) {
  const { datacite, hub } = document;
  const descriptions = datacite.descriptions ?? [];
  const related = datacite.relatedIdentifiers ?? [];
  return section('about', 'About this model',
    descriptions.length ? descriptions.map((d) => h('p', { class: 'description' }, d.descriptionType && d.descriptionType !== 'Abstract' ? h('strong', null, `${d.descriptionType}: `) : null, d.description)) : h('p', { class: 'hint' }, 'No description was given.'),
    h('h3', null, datacite.creators.length === 1 ? 'Author' : 'Authors'),
    authorsList(datacite.creators),
    definitionList([
      ['Domains', hub.domains?.length ? h('ul', { class: 'tags' }, hub.domains.map((domain) => h('li', null, h('a', { href: `/?domain=${encodeURIComponent(domain)}` }, domain)))) : undefined],
      ['Keywords', datacite.subjects?.length ? datacite.subjects.map((s) => s.subject).join(', ') : undefined],
      ['Identifier', identifierView(document)],
      // The last check of the version's examples (docs/provenance.md): reproducible, drifted or fails.
      ['Reproducibility', hub.reproducibility ? h('span', { id: 'model-reproducibility', class: `reproducibility ${hub.reproducibility.status}` }, hub.reproducibility.summary, ' ', h('time', { datetime: hub.reproducibility.checked_at }, `(checked ${formatDate(hub.reproducibility.checked_at)})`)) : undefined],
      ['License', datacite.rightsList?.length ? datacite.rightsList.map((r) => (r.rightsUri && safeUrl(r.rightsUri) ? h('a', { href: safeUrl(r.rightsUri) }, r.rights) : r.rights)) : undefined],
      ['Publisher', datacite.publisher],
      ['Published', hub.publication_date ? h('time', { datetime: hub.publication_date }, formatDate(hub.publication_date)) : undefined],
      ['Funding', datacite.fundingReferences?.length ? datacite.fundingReferences.map((f) => [f.funderName, f.awardNumber ? ` (${f.awardNumber})` : '']).flat() : undefined],
    ]),
    h('h3', null, 'Related papers and resources'),
    related.length
      ? h('ul', { class: 'related' }, related.map((r) => {
          const url = relatedUrl(r);
          const label = r.relatedIdentifierType === 'DOI' ? `doi:${r.relatedIdentifier.replace(/^(https?:\/\/(dx\.)?doi\.org\/|doi:)/i, '')}` : r.relatedIdentifier;
          return h('li', null, `This model ${relationText(r.relationType)} `, url ? h('a', { href: url }, label) : h('code', null, label), ` (${r.relatedIdentifierType})`);
        }))
      : h('p', { class: 'hint' }, 'None listed.'));
}

function interfaceSection(document) {
  const methods = Object.entries(document.servable.methods).sort(([a], [b]) => (a === 'run' ? -1 : b === 'run' ? 1 : a.localeCompare(b)));
  return section('interface', 'Inputs and outputs',
    methods.map(([name, method]) => h('div', { class: 'method' },
      methods.length > 1 ? h('h3', null, h('code', null, name), name === 'run' ? ' (default)' : '') : null,
      method.description ? h('p', null, method.description) : null,
      argumentTable(methods.length > 1 ? `Inputs of ${name}` : 'Inputs', method.input, method.method_details?.input_names),
      argumentTable(methods.length > 1 ? `Outputs of ${name}` : 'Outputs', method.output, method.method_details?.output_names),
      method.parameters && Object.keys(method.parameters).length ? [h('h4', null, 'Parameters and defaults'), h('pre', { class: 'snippet' }, prettyJson(method.parameters))] : null)));
}

function runtimeSection(document) {
  const { servable, hub } = document;
  const inspection = hub.inspection ?? {};
  const files = hub.files ?? [];
  const hasDependencies = hub.dependencies && Object.keys(hub.dependencies).length > 0;
  return section('runtime', 'Runtime and files',
    definitionList([
      ['Runtime', h('span', { class: 'badge' }, servable.type)],
      ['Model file', servable.model_file ? h('code', null, servable.model_file) : undefined],
      ['Format', inspection.format ? [String(inspection.format), inspection.opset ? `, opset ${inspection.opset}` : ''] : undefined],
      ['Produced by', inspection.producerName ? `${inspection.producerName} ${inspection.producerVersion ?? ''}`.trim() : undefined],
      ['Notes from the file', typeof inspection.docString === 'string' && inspection.docString ? inspection.docString : undefined],
      ['Batching', servable.options?.batching?.enabled ? `up to ${servable.options.batching.max_batch_size ?? '?'} per batch` : undefined],
    ]),
    servable.runtime && Object.keys(servable.runtime).length ? [h('h3', null, 'Runtime settings'), h('pre', { class: 'snippet' }, prettyJson(servable.runtime))] : null,
    hasDependencies ? [h('h3', null, 'Dependencies'), h('pre', { class: 'snippet' }, prettyJson(hub.dependencies))] : null,
    h('table', { class: 'files' },
      h('caption', null, `Files (${files.length})`),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Path'), h('th', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, 'SHA-256'))),
      h('tbody', null, files.map((file) => h('tr', null,
        h('th', { scope: 'row' }, h('code', null, file.path)),
        h('td', { class: 'number' }, formatBytes(file.size)),
        h('td', null, h('code', { class: 'hash' }, file.sha256)))))));
}

function versionsSection(versions, shown, ref) {
  if (!versions) return section('versions', 'Versions', h('p', { class: 'hint' }, 'The versions could not be listed.'));
  const latest = versions.find((v) => v.state === 'published')?.version;
  return section('versions', 'Versions',
    h('table', { class: 'versions' },
      h('caption', { class: 'visually-hidden' }, 'Versions, newest first'),
      h('thead', null, h('tr', null, ['Version', 'State', 'Published', 'Identifier'].map((label) => h('th', { scope: 'col' }, label)))),
      h('tbody', null, versions.map((v) => h('tr', { class: v.version === shown ? 'current' : null },
        h('th', { scope: 'row' },
          h('a', { href: `/models/${ref.owner}/${ref.name}${v.version === latest ? '' : `?version=${v.version}`}`, 'aria-current': v.version === shown ? 'page' : null }, `v${v.version}`),
          v.version === latest ? ' (latest)' : ''),
        h('td', null, v.state, v.withdrawn_reason ? `: ${v.withdrawn_reason}` : ''),
        h('td', null, v.published_at ? h('time', { datetime: v.published_at }, formatDate(v.published_at)) : '—'),
        h('td', null, v.identifier ? h('code', null, v.identifier) : '—'))))));
}

export async function renderModelPage(main, owner, name, params) {
  const requested = Number.parseInt(params.get('version') ?? '', 10);
  const ref = { owner, name, version: Number.isInteger(requested) && requested > 0 ? requested : undefined };
  const [document, versions] = await Promise.all([
    api(servablePath(owner, name, ref.version)),
    api(`${servablePath(owner, name)}/versions`).then((reply) => reply.versions, () => undefined),
  ]);
  const title = document.datacite.titles[0]?.title ?? `${owner}/${name}`;
  const version = document.hub.version;
  const latest = versions?.find((v) => v.state === 'published')?.version;
  setTitle(title);
  const live = liveRegion();

  const toc = [['about', 'About'], ['interface', 'Inputs and outputs'], ['try', 'Try it'], ['use', 'Use it from code'], ['cite', 'Cite'], ['versions', 'Versions'], ['runtime', 'Runtime and files']];
  clear(main).append(
    h('article', { class: 'model-card', 'aria-labelledby': 'model-title' },
      h('header', { class: 'model-header' },
        h('p', { class: 'breadcrumb' }, h('a', { href: `/?owner=${encodeURIComponent(owner)}` }, owner), ' / ', name),
        h('h1', { id: 'model-title' }, title),
        h('p', { class: 'model-meta' },
          h('code', null, `${owner}/${name}`), ' · ',
          `version ${version}`, latest === version ? ' (latest)' : latest ? [' · ', h('a', { href: `/models/${owner}/${name}` }, `latest is v${latest}`)] : '',
          ' · ', h('span', { class: 'badge' }, document.servable.type),
          document.hub.visibility === 'private' ? [' · ', h('span', { class: 'badge private' }, 'private')] : null),
        h('nav', { class: 'toc', 'aria-label': 'On this page' }, h('ul', null, toc.map(([id, label]) => h('li', null, h('a', { href: `#${id}` }, label)))))),
      aboutSection(document),
      interfaceSection(document),
      section('try', 'Try it', tryItForm(document, ref)),
      section('use', 'Use it from code', usageExamples(document, ref, live.say)),
      section('cite', 'Cite this model', citationBlock(document, ref, live.say)),
      versionsSection(versions, version, ref),
      runtimeSection(document)),
    live.element,
  );
  // Only the owner gets an answer: the section appears for them alone, after the rest of the page.
  void usageSection(owner, name, version).then((usage) => usage && main.querySelector('article.model-card')?.append(usage));
}
