/**
 * A runtime that loads its module on first use. TensorFlow.js, h5wasm and onnxruntime take
 * hundreds of megabytes and seconds to load; a hub that serves none of their kind (or has not been
 * asked yet) should pay for neither, so the composition root registers those runtimes through this.
 */
import type { ServableType } from '../schemas/metadata.ts';
import type { InspectionResult, LocalFile, Servable, ServableRuntime } from '../schemas/ports/servable.ts';
import type { PublishedMetadata, ServableBlock } from '../schemas/metadata.ts';

export class LazyRuntime implements ServableRuntime {
  private loading: Promise<ServableRuntime> | undefined;

  constructor(
    readonly type: ServableType,
    private readonly open: () => Promise<ServableRuntime>,
  ) {}

  /** The runtime itself, loaded now if it was not yet (a failed load is tried again next time). */
  runtime(): Promise<ServableRuntime> {
    this.loading ??= this.open().catch((error: unknown) => {
      this.loading = undefined;
      throw error;
    });
    return this.loading;
  }

  async available(): Promise<{ ok: boolean; reason?: string }> {
    return (await this.runtime()).available?.() ?? { ok: true };
  }

  async inspect(files: LocalFile[], declared: ServableBlock, log?: (line: string) => void): Promise<InspectionResult> {
    return (await this.runtime()).inspect(files, declared, log);
  }

  async load(document: PublishedMetadata, files: LocalFile[]): Promise<Servable> {
    return (await this.runtime()).load(document, files);
  }

  /** Closes the runtime only if it was ever loaded: closing must not load it. */
  async close(): Promise<void> {
    const loaded = await this.loading?.catch(() => undefined);
    await loaded?.close?.();
  }
}
