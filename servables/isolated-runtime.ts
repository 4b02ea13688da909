/**
 * Runs publisher code isolated: wraps a Python runtime (python, sklearn, torch) so that servables
 * that must be isolated are built into a runner image and served from the container pool, while
 * inspection stays with the Python runtime that knows the model. With MODELHUB_CONTAINERS=docker
 * every Python servable is isolated; with `process`, those that ask for `container_isolation` run
 * the same runner as a local child process.
 */
import { HubError } from '../hub-server/errors.ts';
import type { PublishedMetadata, ServableBlock } from '../schemas/metadata.ts';
import { buildServableImage } from '../builder/image-builder.ts';
import { loadContainerServable, type ContainerRuntimeOptions } from './container-runtime.ts';
import type { InspectionResult, LocalFile, Servable, ServableRuntime } from './servable.ts';

export class IsolatedRuntime implements ServableRuntime {
  readonly type: ServableRuntime['type'];

  constructor(
    private readonly inner: ServableRuntime,
    private readonly containers: ContainerRuntimeOptions,
    /** Isolate every servable of this type, not only those that ask. */
    private readonly always: boolean,
  ) {
    this.type = inner.type;
  }

  private isolated(servable: ServableBlock): boolean {
    return this.always || servable.options?.container_isolation === true;
  }

  available(): Promise<{ ok: boolean; reason?: string }> {
    return this.inner.available?.() ?? Promise.resolve({ ok: true });
  }

  inspect(files: LocalFile[], declared: ServableBlock, log?: (line: string) => void): Promise<InspectionResult> {
    return this.inner.inspect(files, declared, log);
  }

  needsBuild(servable: ServableBlock): boolean {
    return this.isolated(servable);
  }

  async build(document: PublishedMetadata, files: LocalFile[], log: (line: string) => void): Promise<string> {
    // Runner images are not given declared environments yet (docs/environments.md): refuse
    // rather than build an image whose servable cannot import what it declared.
    const environment = document.servable.environment;
    if (environment?.python?.length || environment?.debian?.length) {
      throw new HubError('BUILD_FAILED', 'declared environments (servable.environment, requirements.txt, apt.txt ...) are built for process mode only; container images with them are not built yet');
    }
    const image = await buildServableImage(this.containers.engine, { document, files, instance: this.containers.instance }, { onLog: log, workDir: this.containers.workDir });
    return `image ${image.ref} (${image.id.slice(0, 19)})`;
  }

  load(document: PublishedMetadata, files: LocalFile[]): Promise<Servable> {
    return this.isolated(document.servable) ? loadContainerServable(document, files, this.containers) : this.inner.load(document, files);
  }
}
