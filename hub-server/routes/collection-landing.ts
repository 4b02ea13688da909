/**
 * A collection's landing page at `/id/{identifier}` (docs/collections.md): the same negotiation as
 * a servable's (routes/landing.ts, which sets the security headers and calls this for identifiers
 * the registry does not hold): HTML for browsers, JSON for clients, a citation when Accept names
 * one. A withdrawn collection's page is its tombstone.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Viewer } from '../../schemas/ports/viewer.ts';
import { CITATION_FORMATS, escapeXml as escape, formatCitation, orcidUrl, type CitationFormat } from '../use-cases/citation-formats.ts';
import type { CollectionRecord } from '../../schemas/ports/collection-store.ts';

/** The JSON page: the collection as the API shows it, with its relations and citation URLs. */
export async function collectionLandingJson(app: FastifyInstance, record: CollectionRecord, viewer: Viewer) {
  const { collections, config } = app.hub;
  const view = await collections.view(record, viewer);
  const subject = await collections.citationSubject(record, viewer);
  const api = `${config.publicUrl}/api/v1/collections/${record.owner}/${record.name}`;
  return {
    ...view,
    related_identifiers: subject.relatedIdentifiers,
    metadata_url: api,
    citation_urls: Object.fromEntries(CITATION_FORMATS.map((f) => [f, `${api}/citation?format=${f}`])),
  };
}

/** Answers for a collection's identifier; false when no collection this viewer may see has it. */
export async function sendCollectionLanding(app: FastifyInstance, identifier: string, wanted: 'html' | 'json' | CitationFormat, viewer: Viewer, reply: FastifyReply, style: string): Promise<boolean> {
  const record = await app.hub.collections.byIdentifier(identifier, viewer);
  if (!record) return false;
  if (wanted !== 'html' && wanted !== 'json') {
    const { body, contentType } = formatCitation(await app.hub.collections.citationSubject(record, viewer), wanted);
    await reply.type(contentType).send(body);
    return true;
  }
  const page = await collectionLandingJson(app, record, viewer);
  if (wanted === 'json') {
    await reply.type('application/json; charset=utf-8').send(page);
    return true;
  }
  const subject = await app.hub.collections.citationSubject(record, viewer);
  const e = (value: unknown) => escape(String(value ?? ''));
  const creators = record.creators
    .map((c) => `<li>${e(c.name)}${c.orcid ? ` <a href="${e(orcidUrl(c.orcid))}" rel="author">ORCID ${e(c.orcid.replace('https://orcid.org/', ''))}</a>` : ''}${c.affiliation?.length ? ` (${e(c.affiliation.join('; '))})` : ''}</li>`)
    .join('\n');
  const members = page.members
    .map((m) => `<li><a href="${e(m.landing_url)}">${e(m.title)}</a>: <code>${e(m.servable)}</code> version ${m.version}, <code>${e(m.identifier)}</code>${m.state === 'withdrawn' ? ' <strong>withdrawn</strong>' : ''}</li>`)
    .join('\n');
  const citations = CITATION_FORMATS.map((f) => `<section><h3>${e(f)} <a href="${e(page.citation_urls[f])}">(download)</a></h3><pre>${e(formatCitation(subject, f).body)}</pre></section>`).join('\n');
  const notice = page.withdrawn
    ? `<p class="tombstone" role="alert"><strong>Withdrawn</strong> on ${e(page.withdrawn_at?.slice(0, 10))}. The identifier keeps resolving to this page.</p>`
    : page.identifier_state === 'pending'
      ? `<p class="pending">The identifier is not yet registered with the registration agency; the hub is retrying${page.last_error ? ` (last error: ${e(page.last_error)})` : ''}.</p>`
      : '';
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(record.title)}</title>
<meta name="citation_title" content="${e(record.title)}">
${record.creators.map((c) => `<meta name="citation_author" content="${e(c.name)}">`).join('\n')}
<link rel="alternate" type="application/json" href="${e(page.landing_url)}">
<link rel="describedby" type="application/json" href="${e(page.metadata_url)}">
<style>${style}</style>
</head>
<body>
<main>
<h1>${e(record.title)}</h1>
${notice}
<p><code>${e(page.identifier)}</code> (${e(page.identifier_type)}, a collection of ${page.members.length} model version${page.members.length === 1 ? '' : 's'}) by <code>${e(record.owner)}</code></p>
<h2>Authors</h2>
<ul>
${creators}
</ul>
${record.description ? `<h2>Description</h2>\n<p>${e(record.description)}</p>` : ''}
<h2>Models</h2>
<ul>
${members}
</ul>
<h2>Cite</h2>
${citations}
<h2>API</h2>
<ul>
<li><a href="${e(page.metadata_url)}">the collection (JSON)</a></li>
<li><a href="${e(page.landing_url)}">this page as JSON</a> (<code>Accept: application/json</code>)</li>
</ul>
</main>
</body>
</html>
`;
  await reply.type('text/html; charset=utf-8').send(html);
  return true;
}
