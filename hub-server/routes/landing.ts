/**
 * A landing page per identifier at `/id/{identifier}` (a DOI or a local identifier, slashes kept):
 * HTML for browsers, JSON for clients, or a citation when Accept names a citation format (as
 * doi.org's content negotiation does). A withdrawn version's page is its tombstone: when and why,
 * with the citation still shown so that papers citing it keep making sense. This is the URL a DOI
 * resolves to.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ErrorDocument } from '../../schemas/api.ts';
import { HubError } from '../../schemas/errors.ts';
import { canView } from '../use-cases/access.ts';
import {
  CITATION_FORMATS,
  CITATION_MEDIA_TYPES,
  escapeXml as escape,
  formatCitation,
  negotiateCitationFormat,
  orcidUrl,
  type CitationFormat,
  type CitationSubject,
} from '../use-cases/citation-formats.ts';
import { landingPath } from '../../schemas/ports/identifier-minter.ts';
import { loadCitationSubject } from '../use-cases/identifiers.ts';
import type { IdentifierRecord, VersionRecord } from '../../schemas/ports/registry.ts';
import { subjectContext } from './citation.ts';
import { identifierFromPath } from './identifiers.ts';
import { sendCollectionLanding } from './collection-landing.ts';

type Representation = 'html' | 'json' | CitationFormat;

/** The landing page's only style, inline so the page stands alone; the policy below names its hash. */
const LANDING_STYLE =
  'body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}pre{background:#f4f4f4;padding:.75rem;overflow-x:auto;white-space:pre-wrap}.tombstone{background:#fde2e1;padding:.75rem}.pending{background:#fff4ce;padding:.75rem}';

/**
 * Landing pages show what publishers wrote (titles, names, descriptions): escaped, and besides that
 * no script may run and nothing may load at all, whatever slipped through. The one inline style is
 * allowed by its hash; links still navigate (CSP does not govern them). Sent with every
 * representation of `/id/*`, so a citation opened in a browser is held to the same rule.
 */
export const LANDING_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(LANDING_STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** text/html for browsers, a citation type when asked for one, JSON otherwise. */
function representation(accept: string | undefined): Representation {
  if (!accept) return 'json';
  const ranges = accept.split(',').map((part, order) => {
    const [type = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    const q = Number(params.find((p) => p.startsWith('q='))?.slice(2) ?? 1);
    return { type, q: Number.isFinite(q) ? q : 0, order, raw: part };
  });
  ranges.sort((a, b) => b.q - a.q || a.order - b.order);
  for (const range of ranges) {
    if (range.q <= 0) continue;
    if (range.type === 'text/html' || range.type === 'application/xhtml+xml') return 'html';
    if (range.type === 'application/json' || range.type === 'application/*' || range.type === '*/*') return 'json';
    const citation = CITATION_FORMATS.find((f) => CITATION_MEDIA_TYPES[f] === range.type);
    if (citation) return negotiateCitationFormat(undefined, range.raw);
  }
  throw new HubError('NOT_ACCEPTABLE', `${accept}: the landing page is available as text/html, application/json and ${Object.values(CITATION_MEDIA_TYPES).join(', ')}`);
}

function landingJson(subject: CitationSubject, record: IdentifierRecord, versions: VersionRecord[], apiBase: string, publicUrl: string) {
  const { document } = subject;
  const servableUrl = `${apiBase}/servables/${document.hub.owner}/${document.hub.name}`;
  const metadataUrl = subject.version === undefined ? servableUrl : `${servableUrl}/versions/${subject.version}`;
  return {
    identifier: subject.identifier,
    identifier_type: subject.identifierType,
    state: subject.withdrawn ? 'withdrawn' : record.state,
    ...(record.last_error ? { last_error: record.last_error } : {}),
    concept: subject.version === undefined,
    servable: `${document.hub.owner}/${document.hub.name}`,
    ...(subject.version === undefined ? {} : { version: subject.version }),
    withdrawn: subject.withdrawn !== undefined,
    ...(subject.withdrawn ? { withdrawn_at: subject.withdrawn.at, withdrawn_reason: subject.withdrawn.reason } : {}),
    title: document.datacite.titles[0]!.title,
    creators: document.datacite.creators.map((c) => ({ name: c.name, ...(c.orcid ? { orcid: orcidUrl(c.orcid) } : {}), ...(c.affiliation ? { affiliation: c.affiliation } : {}) })),
    description: document.datacite.descriptions?.[0]?.description,
    publisher: document.datacite.publisher,
    publication_year: document.datacite.publicationYear,
    related_identifiers: subject.relatedIdentifiers,
    ...(document.hub.reproducibility ? { reproducibility: document.hub.reproducibility } : {}),
    versions: versions.map((v) => ({
      version: v.version,
      identifier: v.document!.hub.identifier,
      state: v.state,
      published_at: v.published_at,
      ...(v.withdrawn_at ? { withdrawn_at: v.withdrawn_at, withdrawn_reason: v.withdrawn_reason } : {}),
      landing_url: `${publicUrl}${landingPath(v.document!.hub.identifier)}`,
    })),
    landing_url: subject.landingUrl,
    metadata_url: metadataUrl,
    citation_urls: Object.fromEntries(CITATION_FORMATS.map((f) => [f, `${metadataUrl}/citation?format=${f}`])),
  };
}

function landingHtml(view: ReturnType<typeof landingJson>, subject: CitationSubject): string {
  const e = (value: unknown) => escape(String(value ?? ''));
  const creators = subject.document.datacite.creators
    .map((c) => `<li>${e(c.name)}${c.orcid ? ` <a href="${e(orcidUrl(c.orcid))}" rel="author">ORCID ${e(c.orcid.replace('https://orcid.org/', ''))}</a>` : ''}${c.affiliation?.length ? ` <span class="affiliation">(${e(c.affiliation.join('; '))})</span>` : ''}</li>`)
    .join('\n');
  const versions = view.versions
    .map((v) => `<li><a href="${e(v.landing_url)}">version ${v.version}</a> <code>${e(v.identifier)}</code>${v.withdrawn_at ? ` <strong>withdrawn</strong> ${e(v.withdrawn_at.slice(0, 10))}: ${e(v.withdrawn_reason)}` : ''}${v.version === view.version ? ' (this version)' : ''}</li>`)
    .join('\n');
  const citations = CITATION_FORMATS.map(
    (f) => `<section><h3>${e(f)} <a href="${e(view.citation_urls[f])}">(download)</a></h3><pre>${e(formatCitation(subject, f).body)}</pre></section>`,
  ).join('\n');
  const tombstone = view.withdrawn
    ? `<p class="tombstone" role="alert"><strong>Withdrawn</strong> on ${e(view.withdrawn_at?.slice(0, 10))}: ${e(view.withdrawn_reason)}. The identifier keeps resolving to this page; the model can no longer be run.</p>`
    : '';
  const pending = view.state === 'pending' ? `<p class="pending">The identifier is not yet registered with the registration agency; the hub is retrying${view.last_error ? ` (last error: ${e(view.last_error)})` : ''}.</p>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(view.title)}</title>
<meta name="citation_title" content="${e(view.title)}">
${subject.document.datacite.creators.map((c) => `<meta name="citation_author" content="${e(c.name)}">`).join('\n')}
<link rel="alternate" type="application/json" href="${e(view.landing_url)}">
<link rel="describedby" type="application/json" href="${e(view.metadata_url)}">
<style>${LANDING_STYLE}</style>
</head>
<body>
<main>
<h1>${e(view.title)}</h1>
${tombstone}${pending}
<p><code>${e(view.identifier)}</code> (${e(view.identifier_type)}${view.concept ? ', every version' : `, version ${e(view.version)}`}) of <code>${e(view.servable)}</code></p>
${view.reproducibility ? `<p class="reproducibility">Reproducibility check of its examples: <strong>${e(view.reproducibility.summary)}</strong> (${e(view.reproducibility.checked_at.slice(0, 10))})</p>` : ''}
<h2>Authors</h2>
<ul>
${creators}
</ul>
${view.description ? `<h2>Description</h2>\n<p>${e(view.description)}</p>` : ''}
<h2>Versions</h2>
<ul>
${versions}
</ul>
<h2>Cite</h2>
${citations}
<h2>API</h2>
<ul>
<li><a href="${e(view.metadata_url)}">metadata document (JSON)</a></li>
<li><a href="${e(view.landing_url)}">this page as JSON</a> (<code>Accept: application/json</code>)</li>
</ul>
</main>
</body>
</html>
`;
}

export default async function landingRoutes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox).
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  const { registry, config } = app.hub;
  app.get('/id/*', {
    schema: {
      summary: 'The landing page of an identifier',
      description: 'HTML for browsers (Accept: text/html), JSON for clients, or a citation when Accept names a citation media type. Withdrawn versions show a tombstone.',
      tags: ['identifiers'],
      params: Type.Object({ '*': Type.String({ minLength: 1, maxLength: 500 }) }),
      produces: ['text/html', 'application/json', ...Object.values(CITATION_MEDIA_TYPES)],
      response: { 200: Type.Unknown({ description: 'the landing page: HTML, JSON or a citation, as Accept asks' }), 401: ErrorDocument, 404: ErrorDocument, 406: ErrorDocument },
    },
    handler: async (request, reply) => {
      app.requireReader(request);
      const identifier = identifierFromPath(request);
      const wanted = representation(request.headers.accept);
      const record = await registry.getIdentifier(identifier);
      const loaded = record && (await loadCitationSubject(subjectContext(app), record, (d) => canView(d, request.viewer)));
      reply.header('vary', 'accept');
      reply.header('content-security-policy', LANDING_CONTENT_SECURITY_POLICY);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'same-origin');
      // Not a servable's: a collection's identifier has its own page (routes/collection-landing.ts).
      if (!record && (await sendCollectionLanding(app, identifier, wanted, request.viewer, reply, LANDING_STYLE))) return reply;
      // Unknown, never published, and private to someone else all read the same.
      if (!record || !loaded) throw new HubError('IDENTIFIER_NOT_FOUND', identifier);
      if (wanted !== 'html' && wanted !== 'json') {
        const { body, contentType } = formatCitation(loaded.subject, wanted);
        return reply.type(contentType).send(body);
      }
      const view = landingJson(loaded.subject, record, loaded.versions, `${config.publicUrl}/api/v1`, config.publicUrl);
      if (wanted === 'json') return reply.type('application/json; charset=utf-8').send(view);
      return reply.type('text/html; charset=utf-8').send(landingHtml(view, loaded.subject));
    },
  });
}
