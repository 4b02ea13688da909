/**
 * Runs publisher code isolated: wraps a Python runtime (python, sklearn, torch) so that servables
 * that must be isolated are built into a runner image and served from the container pool, while
 * inspection stays with the Python runtime that knows the model. With MODELHUB_CONTAINERS=docker
 * every Python servable is isolated; with `process`, those that ask for `container_isolation` run
 * the same runner as a local child process.
 */
import { HubError } from '../schemas/errors.ts';
import type { PublishedMetadata, ServableBlock } from '../schemas/metadata.ts';
import { buildServableImage } from './image-builder.ts';
import type { PipSources } from './environment-image.ts';
import { loadContainerServable, type ContainerRuntimeOptions } from './container-runtime.ts';
import type { InspectionResult, LocalFile, Servable, ServableRuntime } from '../schemas/ports/servable.ts';

export class IsolatedRuntime implements ServableRuntime {
  readonly type: ServableRuntime['type'];

  constructor(
    private readonly inner: ServableRuntime,
    private readonly containers: ContainerRuntimeOptions,
    /** Isolate every servable of this type, not only those that ask. */
    private readonly always: boolean,
    /** Where a declared environment's image gets its Python packages. */
    private readonly pip: PipSources = {},
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

  prepareEnvironment(files: LocalFile[], declared: ServableBlock, log: (line: string) => void): Promise<string> {
    return this.inner.prepareEnvironment?.(files, declared, log) ?? Promise.resolve('none: this runtime declares no environments');
  }

  needsBuild(servable: ServableBlock): boolean {
    return this.isolated(servable);
  }

  async build(document: PublishedMetadata, files: LocalFile[], log: (line: string) => void): Promise<string> {
    // Docker builds the environment into an image layer (servables/environment-image.ts); the
    // process engine runs the runner with the hub's interpreter, which has none of it: refuse
    // rather than serve something that cannot import what it declared.
    const environment = document.servable.environment;
    if (this.containers.engine.kind === 'process' && (environment?.python?.length || environment?.debian?.length)) {
      throw new HubError('BUILD_FAILED', 'declared environments are built into container images only with MODELHUB_CONTAINERS=docker; without container_isolation, process mode runs the servable in its venv');
    }
    const image = await buildServableImage(this.containers.engine, { document, files, instance: this.containers.instance }, { onLog: log, workDir: this.containers.workDir, pip: this.pip });
    return `image ${image.ref} (${image.id.slice(0, 19)})`;
  }

  load(document: PublishedMetadata, files: LocalFile[]): Promise<Servable> {
    return this.isolated(document.servable) ? loadContainerServable(document, files, this.containers) : this.inner.load(document, files);
  }
}
