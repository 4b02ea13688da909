import { SEARCH_SORTS, type SearchSort } from '../schemas/api.ts';

/**
 * Search queries, built the way DLHub's `SearchHelper` builds them, turned into `GET /search`
 * parameters. Several values for one field match any of them.
 */
export class SearchQueryBuilder {
  private readonly words: string[] = [];
  private readonly domains: string[] = [];
  private readonly authors: string[] = [];
  private owner?: string;
  private type?: string;
  private doi?: string;
  private latest?: boolean;
  private size?: number;
  private from?: number;
  private sort?: SearchSort;

  /** Free text over titles, descriptions, authors and domains. */
  text(text: string): this {
    if (text.trim()) this.words.push(text.trim());
    return this;
  }

  matchDomains(domains: string | string[]): this {
    this.domains.push(...[domains].flat().filter((d) => d.trim()));
    return this;
  }

  /** Authors as `Family, Given` or a family name alone. */
  matchAuthors(authors: string | string[]): this {
    this.authors.push(...[authors].flat().filter((a) => a.trim()));
    return this;
  }

  matchOwner(owner: string): this {
    this.owner = owner;
    return this;
  }

  /** A servable type: `onnx`, `keras`, `tfjs`, `python`, `sklearn`, `torch`, `container` ... */
  matchType(type: string): this {
    this.type = type;
    return this;
  }

  /** A related identifier (the paper's DOI) or the servable's own identifier. */
  matchDoi(doi: string): this {
    this.doi = doi;
    return this;
  }

  /** true (the hub's default): only the latest version of each servable; false: every version. */
  latestOnly(latest = true): this {
    this.latest = latest;
    return this;
  }

  limit(limit: number): this {
    this.size = limit;
    return this;
  }

  offset(offset: number): this {
    this.from = offset;
    return this;
  }

  /**
   * The order of the hits, applied by the hub across every page: `relevance` (its default: score,
   * then newest), `newest` (publication date, then version) or `title` (A-Z, ignoring case).
   */
  sortBy(sort: SearchSort): this {
    if (!(SEARCH_SORTS as readonly string[]).includes(sort)) {
      throw new TypeError(`sortBy takes one of ${SEARCH_SORTS.join(', ')}, not ${JSON.stringify(sort)}`);
    }
    this.sort = sort;
    return this;
  }

  toParams(): URLSearchParams {
    const params = new URLSearchParams();
    if (this.words.length > 0) params.set('q', this.words.join(' '));
    if (this.owner) params.set('owner', this.owner);
    // Repeated fields are sent comma-separated: the hub splits them and matches any.
    if (this.domains.length > 0) params.set('domain', this.domains.join(','));
    if (this.authors.length > 0) params.set('author', this.authors.join(';'));
    if (this.type) params.set('type', this.type);
    if (this.doi) params.set('doi', this.doi);
    if (this.size !== undefined) params.set('limit', String(this.size));
    if (this.from !== undefined) params.set('offset', String(this.from));
    if (this.latest !== undefined) params.set('latest', String(this.latest));
    if (this.sort !== undefined) params.set('sort', this.sort);
    return params;
  }
}
