/** The part of citation-js the hub uses (the packages ship no type declarations). */
declare module '@citation-js/core' {
  export class Cite {
    constructor(data: unknown);
    static async(data: unknown, options?: Record<string, unknown>): Promise<Cite>;
    data: Record<string, unknown>[];
    format(format: string, options?: Record<string, unknown>): string | object;
  }
}
declare module '@citation-js/plugin-bibtex';
declare module '@citation-js/plugin-csl';
declare module '@citation-js/plugin-ris';
