import { apiUrl, hubFetch, type HubParams } from '../http.ts';
import { parseServableName, servablePath } from '../servable-name.ts';

export const CITATION_FORMATS = ['bibtex', 'csl', 'ris', 'apa', 'datacite-xml', 'datacite-json'] as const;
export type CitationFormat = (typeof CITATION_FORMATS)[number];

/** The citation of a servable version as text (JSON text for `csl` and `datacite-json`). */
export async function citeServable(
  params: HubParams & { name: string; format?: CitationFormat; version?: number },
): Promise<string> {
  const format = params.format ?? 'bibtex';
  if (!CITATION_FORMATS.includes(format)) {
    throw new TypeError(`"${format}" is not a citation format: use one of ${CITATION_FORMATS.join(', ')}`);
  }
  const ref = parseServableName(params.name, params.version);
  const response = await hubFetch(
    params,
    apiUrl(params, `${servablePath(ref)}/citation`, new URLSearchParams({ format })),
    { headers: { accept: '*/*' } },
  );
  return response.text();
}
