/**
 * Realistic published documents shared by the registry and search-index contract suites. Each one
 * reads like a model a scientist would publish; the search suite's expectations are written against
 * these exact texts, so change them together.
 */
import type { PublishedMetadata } from '../../schemas/metadata.ts';

export interface DocumentOptions {
  owner: string;
  name: string;
  version?: number;
  title: string;
  description?: string;
  creators?: string[];
  domains?: string[];
  subjects?: string[];
  type?: PublishedMetadata['servable']['type'];
  visibility?: 'public' | 'private';
  sharedWith?: { users?: string[]; groups?: string[] };
  relatedDois?: string[];
  publicationDate?: string;
}

export function publishedDocument(options: DocumentOptions): PublishedMetadata {
  const version = options.version ?? 1;
  return {
    datacite: {
      creators: (options.creators ?? ['Doe, Jane']).map((name) => ({ name, nameType: 'Personal' as const })),
      titles: [{ title: options.title }],
      publisher: 'modelhub',
      publicationYear: (options.publicationDate ?? '2026-01-01').slice(0, 4),
      resourceType: { resourceTypeGeneral: 'Model' },
      ...(options.description ? { descriptions: [{ description: options.description, descriptionType: 'Abstract' as const }] } : {}),
      ...(options.subjects ? { subjects: options.subjects.map((subject) => ({ subject })) } : {}),
      ...(options.relatedDois
        ? {
            relatedIdentifiers: options.relatedDois.map((doi) => ({
              relatedIdentifier: doi,
              relatedIdentifierType: 'DOI' as const,
              relationType: 'IsDescribedBy' as const,
            })),
          }
        : {}),
    },
    hub: {
      owner: options.owner,
      name: options.name,
      version,
      identifier: `modelhub:${options.owner}/${options.name}/v${version}`,
      files: [{ path: 'model.onnx', sha256: 'a'.repeat(64), size: 1024 }],
      publication_date: options.publicationDate ?? '2026-01-01T00:00:00.000Z',
      visibility: options.visibility ?? 'public',
      type: 'servable',
      ...(options.domains ? { domains: options.domains } : {}),
      ...(options.sharedWith ? { shared_with: options.sharedWith } : {}),
    },
    servable: {
      type: options.type ?? 'onnx',
      model_file: 'model.onnx',
      methods: {
        run: {
          input: { type: 'ndarray', shape: [null, 4], dtype: 'float32' },
          output: { type: 'ndarray', shape: [null, 3], dtype: 'float32' },
        },
      },
    },
  };
}

/**
 * Six servables, seven versions (mnist-mlp has two). Dates increase in list order, so "newest
 * first" is the reverse of this list.
 */
export const searchFixtures: readonly PublishedMetadata[] = [
  publishedDocument({
    owner: 'lecun-lab', name: 'mnist-mlp', version: 1,
    title: 'MNIST handwritten digit classifier',
    description: 'A small multilayer perceptron trained on the MNIST digits.',
    creators: ['LeCun, Yann', 'Cortes, Corinna'], domains: ['computer vision'], subjects: ['image classification'],
    type: 'onnx', publicationDate: '2026-01-01T00:00:00.000Z',
  }),
  publishedDocument({
    owner: 'lecun-lab', name: 'mnist-mlp', version: 2,
    title: 'MNIST handwritten digit classifier',
    description: 'A small multilayer perceptron trained on the MNIST digits; retrained with augmentation.',
    creators: ['LeCun, Yann', 'Cortes, Corinna'], domains: ['computer vision'], subjects: ['image classification'],
    type: 'onnx', publicationDate: '2026-01-02T00:00:00.000Z',
  }),
  publishedDocument({
    owner: 'ward-lab', name: 'formation-energy',
    title: 'Formation energy of inorganic crystals',
    description: 'Random forest regression on Magpie features predicting formation enthalpy from composition.',
    creators: ['Ward, Logan', 'Blaiszik, Ben'], domains: ['materials science'], subjects: ['DFT', 'thermodynamics'],
    type: 'sklearn', relatedDois: ['10.1038/npjcompumats.2016.28'], publicationDate: '2026-01-03T00:00:00.000Z',
  }),
  publishedDocument({
    owner: 'ward-lab', name: 'bandgap-cnn',
    title: 'Band gap predictor for perovskites',
    description: 'Convolutional network trained on DFT band gaps; not a galaxy classifier.',
    creators: ['Ward, Logan'], domains: ['materials science'], subjects: ['electronic structure'],
    type: 'keras', publicationDate: '2026-01-04T00:00:00.000Z',
  }),
  publishedDocument({
    owner: 'astro', name: 'galaxy-morphology',
    title: 'Galaxy morphology classifier',
    description: 'Classifies Sloan survey images into spiral, elliptical and merger galaxies.',
    creators: ['Huertas-Company, Marc'], domains: ['astronomy', 'computer vision'], subjects: ['galaxies'],
    type: 'tfjs', relatedDois: ['10.1093/mnras/stv2818'], publicationDate: '2026-01-05T00:00:00.000Z',
  }),
  publishedDocument({
    owner: 'chard-lab', name: 'xrd-phase',
    title: 'X-ray diffraction phase identification',
    description: 'Identifies crystal phases from powder diffraction patterns with a torch CNN.',
    creators: ['Chard, Ryan'], domains: ['materials science'], subjects: ['crystallography'],
    type: 'torch', visibility: 'private', sharedWith: { users: ['blaiszik'], groups: ['argonne'] },
    publicationDate: '2026-01-06T00:00:00.000Z',
  }),
  publishedDocument({
    owner: 'astro', name: 'supernova-lightcurves',
    title: 'Supernova light curve classifier',
    description: 'Recurrent network over photometric light curves of transients.',
    creators: ['Ward, Logan', 'Narayan, Gautham'], domains: ['astronomy'], subjects: ['transients'],
    type: 'python', publicationDate: '2026-01-07T00:00:00.000Z',
  }),
];
