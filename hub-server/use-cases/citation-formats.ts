/**
 * Citations of servable versions (and of the concept identifier that names every version) in the
 * formats researchers paste into papers and reference managers. BibTeX, CSL-JSON, RIS and APA come
 * from citation-js, fed a CSL item built from the metadata document; citation-js has no DataCite
 * writer, so DataCite JSON (the attributes the DataCite REST API takes) and DataCite XML (kernel-4)
 * are written here, both from one attributes object so that they cannot disagree.
 */
import { createRequire } from 'node:module';
import type { Cite as CiteClass } from '@citation-js/core';
import type { Creator, PublishedMetadata, RelatedIdentifier } from '../../schemas/metadata.ts';
import { HubError } from '../../schemas/errors.ts';

/**
 * citation-js with its BibTeX, CSL and RIS plugins (CommonJS, several megabytes), loaded on the
 * first citation rather than with the hub: most hubs answer far more runs than citations.
 */
let citeClass: typeof CiteClass | undefined;
function Cite(): typeof CiteClass {
  if (!citeClass) {
    const load = createRequire(import.meta.url);
    const core = load('@citation-js/core') as { Cite: typeof CiteClass };
    for (const plugin of ['@citation-js/plugin-bibtex', '@citation-js/plugin-csl', '@citation-js/plugin-ris']) load(plugin);
    citeClass = core.Cite;
  }
  return citeClass;
}

export const CITATION_FORMATS = ['bibtex', 'csl', 'ris', 'apa', 'datacite-xml', 'datacite-json'] as const;
export type CitationFormat = (typeof CITATION_FORMATS)[number];

/** The media type of each format, as DataCite's and Crossref's content negotiation name them. */
export const CITATION_MEDIA_TYPES: Record<CitationFormat, string> = {
  bibtex: 'application/x-bibtex',
  csl: 'application/vnd.citationstyles.csl+json',
  ris: 'application/x-research-info-systems',
  apa: 'text/x-bibliography',
  'datacite-xml': 'application/vnd.datacite.datacite+xml',
  'datacite-json': 'application/vnd.datacite.datacite+json',
};

export const DATACITE_SCHEMA_VERSION = 'http://datacite.org/schema/kernel-4';
const DATACITE_XSD = 'http://schema.datacite.org/meta/kernel-4/metadata.xsd';

/**
 * What a citation is written from: a version's document, or the like of it that a collection
 * makes (use-cases/collections/collection-citation.ts): the DataCite block and the hub's names.
 */
export interface CitableDocument {
  datacite: PublishedMetadata['datacite'];
  hub: Pick<PublishedMetadata['hub'], 'owner' | 'name' | 'domains' | 'publication_date'>;
}

/** One identifier made citable: the document it names and every relation it should declare. */
export interface CitationSubject<D extends CitableDocument = PublishedMetadata> {
  /** The version's document; for a concept identifier, the latest version's. */
  document: D;
  /** What DataCite calls it; `Model` unless said (a collection of versions is a `Collection`). */
  resourceTypeGeneral?: 'Model' | 'Collection';
  identifier: string;
  /** DOI, or LOCAL for the hub's own identifiers. */
  identifierType: string;
  /** undefined for the concept identifier that names every version. */
  version?: number;
  /** The landing page of the identifier on this hub. */
  landingUrl: string;
  relatedIdentifiers: RelatedIdentifier[];
  withdrawn?: { at?: string; reason?: string };
}

/**
 * The most acceptable format for a request: `?format=` wins, then the Accept header (q-values
 * honoured; `text/x-bibliography` only with no style or `style=apa`); no preference means BibTeX.
 */
export function negotiateCitationFormat(format: string | undefined, accept: string | undefined): CitationFormat {
  if (format !== undefined) {
    if ((CITATION_FORMATS as readonly string[]).includes(format)) return format as CitationFormat;
    throw new HubError('BAD_REQUEST', `format must be one of ${CITATION_FORMATS.join(', ')}; got "${format}"`);
  }
  if (!accept || accept.trim() === '') return 'bibtex';
  const ranges = accept
    .split(',')
    .map((part, order) => {
      const [type = '', ...params] = part.split(';').map((p) => p.trim());
      const parameters = Object.fromEntries(params.map((p) => p.split('=').map((v) => v.trim().replace(/^"|"$/g, '').toLowerCase()) as [string, string]));
      const q = parameters.q === undefined ? 1 : Number(parameters.q);
      return { type: type.toLowerCase(), style: parameters.style, q: Number.isFinite(q) ? q : 0, order };
    })
    .filter((range) => range.q > 0 && range.type !== '')
    .sort((a, b) => b.q - a.q || a.order - b.order);
  for (const range of ranges) {
    for (const candidate of CITATION_FORMATS) {
      const media = CITATION_MEDIA_TYPES[candidate];
      const [major] = media.split('/');
      const matches = range.type === '*/*' || range.type === media || range.type === `${major}/*`;
      if (!matches) continue;
      if (candidate === 'apa' && range.style !== undefined && range.style !== 'apa') continue;
      return candidate;
    }
  }
  throw new HubError('NOT_ACCEPTABLE', `${accept}: a citation is available as ${Object.values(CITATION_MEDIA_TYPES).join(', ')}`, {
    details: { available: CITATION_MEDIA_TYPES },
  });
}

// ---- CSL (citation-js input) ------------------------------------------------------------------

interface CslName {
  family?: string;
  given?: string;
  literal?: string;
}

export interface CslItem {
  id: string;
  'citation-key': string;
  type: 'software' | 'collection';
  title: string;
  author: CslName[];
  issued: { 'date-parts': number[][] };
  publisher: string;
  URL: string;
  DOI?: string;
  version?: string;
  abstract?: string;
  keyword?: string;
}

function cslName(creator: Creator): CslName {
  if (creator.nameType === 'Organizational') return { literal: creator.name };
  if (creator.familyName) return { family: creator.familyName, ...(creator.givenName ? { given: creator.givenName } : {}) };
  const comma = creator.name.indexOf(',');
  if (comma > 0) return { family: creator.name.slice(0, comma).trim(), given: creator.name.slice(comma + 1).trim() };
  return { literal: creator.name };
}

const mainTitle = (document: CitableDocument): string =>
  (document.datacite.titles.find((t) => !t.titleType) ?? document.datacite.titles[0]!).title;

const abstractOf = (document: CitableDocument): string | undefined =>
  (document.datacite.descriptions?.find((d) => (d.descriptionType ?? 'Abstract') === 'Abstract') ?? document.datacite.descriptions?.[0])?.description;

export function toCsl(subject: CitationSubject<CitableDocument>): CslItem {
  const { document } = subject;
  // citation-js replaces keys holding anything else (such as '-') with a generated label.
  const key = `${document.hub.owner}_${document.hub.name}${subject.version === undefined ? '' : `_v${subject.version}`}`.replace(/[^A-Za-z0-9_]/g, '_');
  const abstract = abstractOf(document);
  const keywords = keywordsOf(document);
  return {
    id: key,
    'citation-key': key,
    type: subject.resourceTypeGeneral === 'Collection' ? 'collection' : 'software',
    title: mainTitle(document),
    author: document.datacite.creators.map(cslName),
    issued: { 'date-parts': [[Number(document.datacite.publicationYear ?? document.hub.publication_date.slice(0, 4))]] },
    publisher: document.datacite.publisher ?? 'modelhub',
    URL: subject.landingUrl,
    ...(subject.identifierType === 'DOI' ? { DOI: subject.identifier } : {}),
    ...(subject.version === undefined ? {} : { version: String(subject.version) }),
    ...(abstract ? { abstract } : {}),
    ...(keywords.length ? { keyword: keywords.join(', ') } : {}),
  };
}

/** Domains and subjects, each once. */
const keywordsOf = (document: CitableDocument): string[] => [
  ...new Set([...(document.hub.domains ?? []), ...(document.datacite.subjects ?? []).map((s) => s.subject)]),
];

// ---- RIS ------------------------------------------------------------------------------------------

/**
 * Line breaks and other control characters (C0, DEL, C1 with NEL, and the Unicode line and
 * paragraph separators): in RIS a line break ends a tag, so one in a title could start a forged
 * `ER  - ` / `TY  - ` record. Folded, with the spaces around them, to one space; runs of spaces
 * too, since "  - " inside a value reads as a tag separator to some parsers (citation-js's).
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is replaced
const RIS_BREAKS = /[ \u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;
const risValue = (value: unknown): string => String(value).replace(RIS_BREAKS, ' ').trim();

/**
 * RIS text from citation-js's RIS record (its tag mapping, which its parser reads back), written
 * here rather than by its text output, which wraps every line at 70 characters mid-word (its own
 * parser then joins the pieces with a space, breaking URLs and words; the RIS specification has
 * no line wrapping) and splits the CSL keyword string at commas, leaving leading spaces. Every
 * value is one line: `TAG  - value`, `TY` first and `ER  - ` last. Keywords are written one `KW`
 * line each, from the document itself.
 */
function risText(subject: CitationSubject<CitableDocument>): string {
  const [record] = new (Cite())([toCsl(subject)]).format('ris', { format: 'object' }) as unknown as Record<string, unknown>[];
  const { TY: type, KW: _splitKeywords, ...tags } = record!;
  const lines = [`TY  - ${risValue(type)}`];
  for (const [tag, values] of Object.entries(tags)) {
    for (const value of [values].flat()) {
      const text = risValue(value);
      if (text !== '') lines.push(`${tag}  - ${text}`);
    }
  }
  for (const keyword of keywordsOf(subject.document)) {
    const text = risValue(keyword);
    if (text !== '') lines.push(`KW  - ${text}`);
  }
  lines.push('ER  - ');
  return `${lines.join('\n')}\n`;
}

// ---- DataCite (JSON attributes and kernel-4 XML) ----------------------------------------------

export interface DataciteCreator {
  name: string;
  nameType?: 'Personal' | 'Organizational';
  givenName?: string;
  familyName?: string;
  affiliation?: { name: string }[];
  nameIdentifiers?: { nameIdentifier: string; nameIdentifierScheme: string; schemeUri?: string }[];
}

/** The attributes of a DataCite record, as the REST API takes them and DataCite JSON shows them. */
export interface DataciteAttributes {
  doi?: string;
  identifiers?: { identifier: string; identifierType: string }[];
  creators: DataciteCreator[];
  titles: { title: string; titleType?: string; lang?: string }[];
  publisher: string;
  publicationYear: number;
  types: { resourceTypeGeneral: 'Model' | 'Collection'; resourceType?: string };
  subjects?: { subject: string; subjectScheme?: string }[];
  dates: { date: string; dateType: string; dateInformation?: string }[];
  relatedIdentifiers: RelatedIdentifier[];
  version?: string;
  rightsList?: { rights: string; rightsUri?: string; rightsIdentifier?: string }[];
  descriptions?: { description: string; descriptionType: string }[];
  fundingReferences?: { funderName: string; funderIdentifier?: string; awardNumber?: string; awardTitle?: string }[];
  url: string;
  schemaVersion: string;
}

export function orcidUrl(orcid: string): string {
  return orcid.startsWith('https://') ? orcid : `https://orcid.org/${orcid}`;
}

function dataciteCreator(creator: Creator): DataciteCreator {
  const personal = creator.nameType ?? (creator.name.includes(',') || creator.familyName ? 'Personal' : undefined);
  const names = personal === 'Personal' ? cslName(creator) : {};
  const identifiers = [
    ...(creator.orcid ? [{ nameIdentifier: orcidUrl(creator.orcid), nameIdentifierScheme: 'ORCID', schemeUri: 'https://orcid.org' }] : []),
    ...(creator.nameIdentifiers ?? []).filter((id) => !(creator.orcid && id.nameIdentifierScheme === 'ORCID')),
  ];
  return {
    name: creator.name,
    ...(personal ? { nameType: personal } : {}),
    ...(creator.givenName ?? names.given ? { givenName: creator.givenName ?? names.given } : {}),
    ...(creator.familyName ?? names.family ? { familyName: creator.familyName ?? names.family } : {}),
    ...(creator.affiliation?.length ? { affiliation: creator.affiliation.map((name) => ({ name })) } : {}),
    ...(identifiers.length ? { nameIdentifiers: identifiers } : {}),
  };
}

export function dataciteAttributes(subject: CitationSubject<CitableDocument>): DataciteAttributes {
  const { document } = subject;
  const datacite = document.datacite;
  const subjects = [
    ...(datacite.subjects ?? []),
    ...(document.hub.domains ?? []).filter((d) => !(datacite.subjects ?? []).some((s) => s.subject === d)).map((subject) => ({ subject })),
  ];
  const dates: DataciteAttributes['dates'] = [{ date: document.hub.publication_date.slice(0, 10), dateType: 'Issued' }];
  if (subject.withdrawn) {
    dates.push({
      date: (subject.withdrawn.at ?? document.hub.publication_date).slice(0, 10),
      dateType: 'Withdrawn',
      ...(subject.withdrawn.reason ? { dateInformation: subject.withdrawn.reason } : {}),
    });
  }
  return {
    ...(subject.identifierType === 'DOI'
      ? { doi: subject.identifier }
      : { identifiers: [{ identifier: subject.identifier, identifierType: subject.identifierType }] }),
    creators: datacite.creators.map(dataciteCreator),
    titles: datacite.titles.map((t) => ({ ...t })),
    publisher: datacite.publisher ?? 'modelhub',
    publicationYear: Number(datacite.publicationYear ?? document.hub.publication_date.slice(0, 4)),
    types: { resourceTypeGeneral: subject.resourceTypeGeneral ?? 'Model', ...(datacite.resourceType?.resourceType ? { resourceType: datacite.resourceType.resourceType } : {}) },
    ...(subjects.length ? { subjects } : {}),
    dates,
    relatedIdentifiers: subject.relatedIdentifiers,
    ...(subject.version === undefined ? {} : { version: String(subject.version) }),
    ...(datacite.rightsList?.length ? { rightsList: datacite.rightsList } : {}),
    ...(datacite.descriptions?.length
      ? { descriptions: datacite.descriptions.map((d) => ({ description: d.description, descriptionType: d.descriptionType ?? 'Abstract' })) }
      : {}),
    ...(datacite.fundingReferences?.length ? { fundingReferences: datacite.fundingReferences } : {}),
    url: subject.landingUrl,
    schemaVersion: DATACITE_SCHEMA_VERSION,
  };
}

/** Escape text and attribute values, dropping characters XML 1.0 cannot hold at all. */
export function escapeXml(value: string): string {
  return value
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function element(name: string, text: string, attributes: Record<string, string | undefined> = {}): string {
  const attrs = Object.entries(attributes)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([key, value]) => ` ${key}="${escapeXml(value)}"`)
    .join('');
  return `<${name}${attrs}>${escapeXml(text)}</${name}>`;
}

function block(name: string, children: string[], indent: string): string[] {
  if (children.length === 0) return [];
  return [`${indent}<${name}>`, ...children.map((child) => `${indent}  ${child}`), `${indent}</${name}>`];
}

/** DataCite kernel-4 XML, elements in the schema's order. */
export function dataciteXml(subject: CitationSubject<CitableDocument>): string {
  const a = dataciteAttributes(subject);
  const i = '  ';
  const identifier = a.doi ?? subject.identifier;
  const creators = a.creators.map((c) =>
    [
      '<creator>',
      element('creatorName', c.name, { nameType: c.nameType }),
      c.givenName ? element('givenName', c.givenName) : '',
      c.familyName ? element('familyName', c.familyName) : '',
      ...(c.nameIdentifiers ?? []).map((n) => element('nameIdentifier', n.nameIdentifier, { nameIdentifierScheme: n.nameIdentifierScheme, schemeURI: n.schemeUri })),
      ...(c.affiliation ?? []).map((af) => element('affiliation', af.name)),
      '</creator>',
    ].join(''),
  );
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<resource xmlns="${DATACITE_SCHEMA_VERSION}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="${DATACITE_SCHEMA_VERSION} ${DATACITE_XSD}">`,
    `${i}${element('identifier', identifier, { identifierType: subject.identifierType })}`,
    ...block('creators', creators, i),
    ...block('titles', a.titles.map((t) => element('title', t.title, { 'xml:lang': t.lang, titleType: t.titleType })), i),
    `${i}${element('publisher', a.publisher)}`,
    `${i}${element('publicationYear', String(a.publicationYear))}`,
    `${i}${element('resourceType', a.types.resourceType ?? '', { resourceTypeGeneral: a.types.resourceTypeGeneral })}`,
    ...block('subjects', (a.subjects ?? []).map((s) => element('subject', s.subject, { subjectScheme: s.subjectScheme })), i),
    ...block('dates', a.dates.map((d) => element('date', d.date, { dateType: d.dateType, dateInformation: d.dateInformation })), i),
    ...block(
      'alternateIdentifiers',
      (a.identifiers ?? []).filter((id) => id.identifier !== identifier).map((id) => element('alternateIdentifier', id.identifier, { alternateIdentifierType: id.identifierType })),
      i,
    ),
    ...block(
      'relatedIdentifiers',
      a.relatedIdentifiers.map((r) => element('relatedIdentifier', r.relatedIdentifier, { relatedIdentifierType: r.relatedIdentifierType, relationType: r.relationType })),
      i,
    ),
    ...(a.version ? [`${i}${element('version', a.version)}`] : []),
    ...block('rightsList', (a.rightsList ?? []).map((r) => element('rights', r.rights, { rightsURI: r.rightsUri, rightsIdentifier: r.rightsIdentifier })), i),
    ...block('descriptions', (a.descriptions ?? []).map((d) => element('description', d.description, { descriptionType: d.descriptionType })), i),
    ...block(
      'fundingReferences',
      (a.fundingReferences ?? []).map((f) =>
        [
          '<fundingReference>',
          element('funderName', f.funderName),
          f.funderIdentifier ? element('funderIdentifier', f.funderIdentifier, { funderIdentifierType: 'Other' }) : '',
          f.awardNumber ? element('awardNumber', f.awardNumber) : '',
          f.awardTitle ? element('awardTitle', f.awardTitle) : '',
          '</fundingReference>',
        ].join(''),
      ),
      i,
    ),
    '</resource>',
    '',
  ];
  return lines.join('\n');
}

/** DataCite JSON as DataCite's content negotiation serves it: the attributes with an `id`. */
export function dataciteJson(subject: CitationSubject<CitableDocument>): Record<string, unknown> {
  const attributes = dataciteAttributes(subject);
  return { id: subject.identifierType === 'DOI' ? `https://doi.org/${subject.identifier}` : subject.landingUrl, ...attributes };
}

export function formatCitation(subject: CitationSubject<CitableDocument>, format: CitationFormat): { body: string; contentType: string } {
  const contentType = `${CITATION_MEDIA_TYPES[format]}; charset=utf-8`;
  switch (format) {
    case 'datacite-xml':
      return { body: dataciteXml(subject), contentType };
    case 'datacite-json':
      return { body: `${JSON.stringify(dataciteJson(subject), null, 2)}\n`, contentType };
    case 'csl':
      return { body: `${JSON.stringify([toCsl(subject)], null, 2)}\n`, contentType };
  }
  if (format === 'ris') return { body: risText(subject), contentType };
  const cite = new (Cite())([toCsl(subject)]);
  switch (format) {
    case 'bibtex':
      return { body: String(cite.format('bibtex')).trim() + '\n', contentType };
    case 'apa':
      return { body: String(cite.format('bibliography', { template: 'apa', format: 'text', lang: 'en-US' })).trim() + '\n', contentType };
  }
  throw new HubError('NOT_ACCEPTABLE', format);
}
