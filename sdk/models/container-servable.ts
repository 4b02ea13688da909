/**
 * A generic container servable: a folder with a Dockerfile (FROM one of the hub's base images, or
 * any image already on the hub's Docker engine) whose program speaks the Open Inference Protocol
 * v2 over HTTP on port 8080 (`GET /v2/health/ready`, `POST /v2/models/{m}/infer`). The hub builds
 * the folder into an image and runs it isolated; see docs/containers.md for the protocol.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ArgumentType } from '../../schemas/metadata.ts';
import { ServableDescription } from './servable-description.ts';

export class ContainerServable extends ServableDescription {
  /** The image the Dockerfile starts FROM. */
  readonly baseImage: string;
  /** Things worth knowing before publishing (a base image the hub may not have, ...). */
  readonly warnings: string[];

  private constructor(baseImage: string, warnings: string[], input: ArgumentType, output: ArgumentType) {
    super({ type: 'container', methods: { run: { input, output } } });
    this.baseImage = baseImage;
    this.warnings = warnings;
  }

  /**
   * Adds every file under `dir` but hidden ones. Throws (code MODELHUB_INVALID_MODEL) when the
   * folder has no Dockerfile or the Dockerfile no FROM line. The run method takes and gives `any`
   * JSON unless `input`/`output` declare it.
   */
  static async create(dir: string, options: { input?: ArgumentType; output?: ArgumentType } = {}): Promise<ContainerServable> {
    if (!statSync(dir).isDirectory()) throw new TypeError(`${dir} is not a folder`);
    const dockerfile = path.join(dir, 'Dockerfile');
    if (!existsSync(dockerfile)) {
      throw Object.assign(new Error(`${dir} has no Dockerfile: a container servable is a folder with a Dockerfile at its top`), { code: 'MODELHUB_INVALID_MODEL' });
    }
    // The hub's own reading of a Dockerfile, loaded only when a caller describes a container.
    const { inspectDockerfile } = await import('../../servables/container-runtime.ts');
    const { baseImage, warnings } = inspectDockerfile(readFileSync(dockerfile, 'utf8'));
    const model = new ContainerServable(baseImage, warnings, options.input ?? { type: 'any' }, options.output ?? { type: 'any' });
    model.addDirectory(dir, '', { exclude: (relative) => relative.split('/').some((part) => part.startsWith('.')) });
    model.setModelFile('Dockerfile');
    return model;
  }
}
