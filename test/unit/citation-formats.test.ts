/**
 * Citation outputs parsed back and checked: BibTeX and RIS by citation-js's own parsers, CSL-JSON
 * and DataCite JSON as JSON, DataCite XML with xmllint against an XML Schema written here from the
 * DataCite kernel-4 specification (mandatory properties, their order, the resourceTypeGeneral and
 * relation vocabularies). No schema is downloaded. Content negotiation rules are checked too.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cite } from '@citation-js/core';
import {
  dataciteXml,
  escapeXml,
  formatCitation,
  negotiateCitationFormat,
  type CitationSubject,
} from '../../hub-server/use-cases/citation-formats.ts';
import { landingPath } from '../../schemas/ports/identifier-minter.ts';
import { publishedDocument } from '../contract/metadata-fixtures.ts';
import { validateDataciteXml, xpath } from '../helpers/datacite-xml.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-citation-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TITLE = 'Ions & <Electrons>: a "quantum" {model} for 100% of cases';

function subject(overrides: Partial<CitationSubject> = {}): CitationSubject {
  const document = publishedDocument({
    owner: 'curie', name: 'radium-net', version: 2, title: TITLE, description: 'Predicts decay <fast> & well.',
    creators: ['Curie, Marie', 'Skłodowska, Bronisława'], domains: ['physics'], publicationDate: '2025-06-01T10:00:00.000Z',
  });
  document.datacite.creators[0]!.orcid = '0000-0002-1825-0097';
  document.datacite.creators[0]!.affiliation = ['Institut du Radium'];
  document.datacite.creators.push({ name: 'Radium Institute', nameType: 'Organizational' });
  document.datacite.rightsList = [{ rights: 'CC-BY-4.0', rightsUri: 'https://creativecommons.org/licenses/by/4.0/' }];
  document.datacite.fundingReferences = [{ funderName: 'Académie des sciences', awardNumber: 'A-1' }];
  return {
    document,
    identifier: '10.5072/modelhub.curie.radium-net.v2',
    identifierType: 'DOI',
    version: 2,
    landingUrl: 'https://hub.example.org/id/10.5072/modelhub.curie.radium-net.v2',
    relatedIdentifiers: [
      { relatedIdentifier: '10.5072/modelhub.curie.radium-net.all', relatedIdentifierType: 'DOI', relationType: 'IsVersionOf' },
      { relatedIdentifier: '10.5072/modelhub.curie.radium-net.v1', relatedIdentifierType: 'DOI', relationType: 'IsNewVersionOf' },
    ],
    ...overrides,
  };
}

const validate = (xml: string) => validateDataciteXml(tmp, xml);

describe('citation formats', () => {
  it('writes BibTeX that citation-js parses back to the same work', async () => {
    const { body, contentType } = formatCitation(subject(), 'bibtex');
    expect(contentType).toBe('application/x-bibtex; charset=utf-8');
    expect(body).toMatch(/^@misc\{curie_radium_net_v2,/);
    const [parsed] = (await Cite.async(body)).data as Record<string, any>[];
    expect(parsed!.title).toBe(TITLE);
    expect(parsed!.author).toEqual([
      { family: 'Curie', given: 'Marie' }, { family: 'Skłodowska', given: 'Bronisława' }, { literal: 'Radium Institute' },
    ].map((a) => expect.objectContaining(a.literal ? { family: a.literal } : a)));
    expect(parsed!.DOI).toBe('10.5072/modelhub.curie.radium-net.v2');
    expect(parsed!.URL).toBe('https://hub.example.org/id/10.5072/modelhub.curie.radium-net.v2');
    expect(parsed!.issued).toEqual({ 'date-parts': [[2025]] });
    expect(parsed!.publisher).toBe('modelhub');
  });

  it('writes RIS that citation-js parses back', async () => {
    const { body } = formatCitation(subject(), 'ris');
    expect(body.split('\n')[0]).toBe('TY  - COMP');
    const [parsed] = (await Cite.async(body, { forceType: '@ris/file' } as never)).data as Record<string, any>[];
    expect(parsed!.title).toBe(TITLE);
    expect(parsed!.author.map((a: { family?: string; literal?: string }) => a.family ?? a.literal)).toEqual(['Curie', 'Skłodowska', 'Radium Institute']);
    expect(parsed!.DOI).toBe('10.5072/modelhub.curie.radium-net.v2');
    expect(String(parsed!.version)).toBe('2');
  });

  /** Every record citation-js's RIS parser reads from `body`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- CSL records are read field by field, as the tests go
  const parseRis = async (body: string) => (await Cite.async(body, { forceType: '@ris/file' } as never)).data as Record<string, any>[];

  it('folds line breaks in titles and names to spaces, so they cannot forge RIS records (issue 19)', async () => {
    const forged = 'A model\nER  - \nTY  - JOUR\nTI  - Forged';
    const base = subject();
    base.document.datacite.titles = [{ title: forged }];
    base.document.datacite.creators = [{ name: 'Curie\r\nAU  - Evil, Eve', nameType: 'Personal' }, { name: 'Lab\u2028Two\u0000', nameType: 'Organizational' }];
    base.document.datacite.descriptions = [{ description: 'line one\n\nline two', descriptionType: 'Abstract' }];
    const { body } = formatCitation(base, 'ris');
    expect(body.match(/^TY {2}- /gm)).toHaveLength(1);
    expect(body.match(/^ER {2}- /gm)).toHaveLength(1);
    expect(body.match(/^AU {2}- /gm)).toHaveLength(2);
    const records = await parseRis(body);
    expect(records).toHaveLength(1);
    expect(records[0]!.title).toBe('A model ER - TY - JOUR TI - Forged');
    expect(records[0]!.abstract).toBe('line one line two');
    expect(records[0]!.author.map((a: { family?: string; given?: string; literal?: string }) => a.literal ?? `${a.family}, ${a.given}`)).toEqual(['Curie AU - Evil, Eve', 'Lab Two']);
  });

  it('writes each RIS value on one line, however long, and keywords without leading spaces (issue 19)', async () => {
    const title = `A long title ${'word '.repeat(30)}with https://example.org/a/very/long/path/that/must/not/break/${'x'.repeat(80)} at the end`;
    const description = `An abstract of ${'many words '.repeat(40)}and no line break`;
    const base = subject({ landingUrl: `https://hub.example.org/id/${'long-'.repeat(20)}landing` });
    base.document.datacite.titles = [{ title }];
    base.document.datacite.descriptions = [{ description, descriptionType: 'Abstract' }];
    base.document.hub.domains = ['materials science', 'physics', 'machine learning'];
    const { body } = formatCitation(base, 'ris');
    // Every line is a tag line: no continuation lines.
    for (const line of body.split('\n').slice(0, -1)) expect(line, line).toMatch(/^[A-Z][A-Z0-9] {2}- /);
    expect(body.split('\n').filter((line) => line.startsWith('KW  - '))).toEqual(['KW  - materials science', 'KW  - physics', 'KW  - machine learning']);
    const [record] = await parseRis(body);
    expect(record!.title).toBe(title);
    expect(record!.abstract).toBe(description);
    expect(record!.URL).toBe(`https://hub.example.org/id/${'long-'.repeat(20)}landing`);
    expect(String(record!.keyword).split(/,\s*/)).toEqual(['materials science', 'physics', 'machine learning']);
  });

  it('writes CSL-JSON and APA text', () => {
    const csl = JSON.parse(formatCitation(subject(), 'csl').body);
    expect(csl).toEqual([expect.objectContaining({ type: 'software', title: TITLE, version: '2', DOI: '10.5072/modelhub.curie.radium-net.v2', issued: { 'date-parts': [[2025]] } })]);
    const apa = formatCitation(subject(), 'apa').body;
    // CSL's APA style typesets straight quotes as curly ones.
    expect(apa).toBe(
      `Curie, M., Skłodowska, B., & Radium Institute. (2025). ${TITLE.replace(/"([^"]*)"/, '\u201c$1\u201d')} (Version 2) [Computer software]. modelhub. https://doi.org/10.5072/modelhub.curie.radium-net.v2\n`,
    );
  });

  it('writes DataCite XML that is valid kernel-4 and escapes what XML must', () => {
    const xml = dataciteXml(subject({ withdrawn: { at: '2026-02-03T00:00:00.000Z', reason: 'weights <corrupt> & retracted' } }));
    const result = validate(xml);
    expect(result.ok, result.output + xml).toBe(true);
    expect(xpath(xml, 'string(//*[local-name()="title"])')).toBe(TITLE);
    expect(xpath(xml, 'string(//*[local-name()="identifier"]/@identifierType)')).toBe('DOI');
    expect(xpath(xml, 'string(//*[local-name()="resourceType"]/@resourceTypeGeneral)')).toBe('Model');
    expect(xpath(xml, 'string(//*[local-name()="nameIdentifier"])')).toBe('https://orcid.org/0000-0002-1825-0097');
    expect(xpath(xml, 'string(//*[local-name()="relatedIdentifier"][@relationType="IsNewVersionOf"])')).toBe('10.5072/modelhub.curie.radium-net.v1');
    expect(xpath(xml, 'string(//*[local-name()="date"][@dateType="Withdrawn"]/@dateInformation)')).toBe('weights <corrupt> & retracted');
    expect(xpath(xml, 'string(//*[local-name()="version"])')).toBe('2');
  });

  it('refuses invalid kernel-4 with the same schema (the check has teeth)', () => {
    const xml = dataciteXml(subject()).replace('<publisher>modelhub</publisher>', '').replace('resourceTypeGeneral="Model"', 'resourceTypeGeneral="Weights"');
    const result = validate(xml);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/resourceTypeGeneral|publisher/);
  });

  it('writes DataCite JSON with the DOI, the version links and the ORCID', () => {
    const json = JSON.parse(formatCitation(subject(), 'datacite-json').body);
    expect(json).toMatchObject({
      id: 'https://doi.org/10.5072/modelhub.curie.radium-net.v2',
      doi: '10.5072/modelhub.curie.radium-net.v2',
      types: { resourceTypeGeneral: 'Model' },
      publicationYear: 2025,
      version: '2',
      subjects: [{ subject: 'physics' }],
    });
    expect(json.relatedIdentifiers).toHaveLength(2);
    expect(json.creators[2]).toEqual({ name: 'Radium Institute', nameType: 'Organizational' });
  });

  it('drops characters XML cannot hold and escapes markup', () => {
    expect(escapeXml('a\u0000b\u0007c <&>"\'')).toBe('abc &lt;&amp;&gt;&quot;&apos;');
    expect(landingPath('10.5072/modelhub.a.b.v1')).toBe('/id/10.5072/modelhub.a.b.v1');
    expect(landingPath('modelhub:a/b/v1')).toBe('/id/modelhub:a/b/v1');
    expect(landingPath('x y?#')).toBe('/id/x%20y%3F%23');
  });
});

describe('citation content negotiation', () => {
  it('lets ?format= win, defaults to BibTeX, and honours Accept with q-values', () => {
    expect(negotiateCitationFormat('ris', 'application/x-bibtex')).toBe('ris');
    expect(negotiateCitationFormat(undefined, undefined)).toBe('bibtex');
    expect(negotiateCitationFormat(undefined, '*/*')).toBe('bibtex');
    expect(negotiateCitationFormat(undefined, 'application/vnd.citationstyles.csl+json')).toBe('csl');
    expect(negotiateCitationFormat(undefined, 'application/x-research-info-systems')).toBe('ris');
    expect(negotiateCitationFormat(undefined, 'application/vnd.datacite.datacite+xml')).toBe('datacite-xml');
    expect(negotiateCitationFormat(undefined, 'application/vnd.datacite.datacite+json')).toBe('datacite-json');
    expect(negotiateCitationFormat(undefined, 'text/x-bibliography; style=apa')).toBe('apa');
    expect(negotiateCitationFormat(undefined, 'application/x-bibtex;q=0.5, application/x-research-info-systems')).toBe('ris');
    expect(negotiateCitationFormat(undefined, 'text/html, text/*;q=0.9')).toBe('apa');
  });

  it('answers 406 MODELHUB_NOT_ACCEPTABLE when nothing acceptable exists, 400 for an unknown format', () => {
    expect(() => negotiateCitationFormat(undefined, 'application/json')).toThrow(expect.objectContaining({ code: 'MODELHUB_NOT_ACCEPTABLE', status: 406 }));
    expect(() => negotiateCitationFormat(undefined, 'text/x-bibliography; style=harvard')).toThrow(expect.objectContaining({ status: 406 }));
    expect(() => negotiateCitationFormat(undefined, 'application/x-bibtex;q=0')).toThrow(expect.objectContaining({ status: 406 }));
    expect(() => negotiateCitationFormat('mla', undefined)).toThrow(expect.objectContaining({ code: 'MODELHUB_BAD_REQUEST' }));
  });
});
