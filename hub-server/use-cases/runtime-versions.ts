/**
 * Which runtime (and which version of it) serves each servable type on this hub: what a provenance
 * record names, and what the reproducibility checker compares at start-up to notice an upgrade.
 * Versions come from the installed packages' own package.json and from the Python interpreter
 * itself, asked once per process (in a child process, never on the event loop).
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import type { ProvenanceRecord } from '../../schemas/provenance.ts';

export type RuntimeDescription = ProvenanceRecord['runtime'];

const requireHere = createRequire(import.meta.url);
const run = promisify(execFile);

/** The `version` of an installed npm package, or 'unknown'. */
export function packageVersion(name: string): string {
  try {
    const file = requireHere.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The hub's own version (package.json). */
export const HUB_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

const PYTHON_PACKAGES = ['numpy', 'scikit-learn', 'torch', 'joblib', 'onnx'];
const PYTHON_PROBE = `
import json, sys
from importlib import metadata
packages = {}
for name in ${JSON.stringify(PYTHON_PACKAGES)}:
    try:
        packages[name] = metadata.version(name)
    except Exception:
        pass
print(json.dumps({"version": sys.version.split()[0], "packages": packages}))
`;

export class RuntimeVersions {
  private python?: Promise<{ version: string; packages: Record<string, string> }>;

  constructor(private readonly options: { python: string; containers: string }) {}

  private pythonVersions(): Promise<{ version: string; packages: Record<string, string> }> {
    this.python ??= run(this.options.python, ['-c', PYTHON_PROBE], { timeout: 30_000 }).then(
      ({ stdout }) => JSON.parse(stdout) as { version: string; packages: Record<string, string> },
      () => ({ version: 'unknown', packages: {} }),
    );
    return this.python;
  }

  /** The runtime that serves this servable version here. */
  async describe(document: PublishedMetadata): Promise<RuntimeDescription> {
    const type = document.servable.type;
    switch (type) {
      case 'onnx':
        return { type, name: 'onnxruntime-node', version: packageVersion('onnxruntime-node') };
      case 'tfjs':
      case 'keras':
      case 'tf-savedmodel':
        return { type, name: '@tensorflow/tfjs', version: packageVersion('@tensorflow/tfjs'), packages: { '@tensorflow/tfjs-backend-wasm': packageVersion('@tensorflow/tfjs-backend-wasm') } };
      case 'container': {
        const facts = document.hub.inspection ?? {};
        const image = typeof facts.image_digest === 'string' ? facts.image_digest : typeof facts.base_image === 'string' ? facts.base_image : undefined;
        return { type, name: `container (${this.options.containers})`, version: packageVersion('dockerode'), ...(image ? { image } : {}) };
      }
      default: {
        const python = await this.pythonVersions();
        return { type, name: 'python', version: python.version, packages: python.packages };
      }
    }
  }

  /** A short, comparable fingerprint of a runtime description (what an upgrade changes). */
  static fingerprint(runtime: RuntimeDescription): string {
    const packages = Object.entries(runtime.packages ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([name, version]) => `${name}=${version}`);
    return [`${runtime.name}=${runtime.version}`, ...packages, ...(runtime.image ? [`image=${runtime.image}`] : [])].join(' ');
  }
}
