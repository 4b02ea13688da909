/**
 * Reproducibility checks (docs/provenance.md): a version's examples (inputs with expected outputs,
 * given at publish in `servable.methods.<m>.method_details.examples`, or recorded from the first
 * run of the declared warm-up input) are re-run after publishing, on `modelhub verify`, every
 * MODELHUB_VERIFY_INTERVAL, and at start when the runtime that serves the version changed. The
 * result ("reproducible", "drifted: output 'y' differs by 3e-2", "fails: …") goes into the
 * version's document (`hub.reproducibility`: model card, landing page, search facet), and a
 * version that starts to drift tells its owner once (the `drift.detected` event).
 */
import type { Method, PublishedMetadata } from '../../schemas/metadata.ts';
import { HubError, toHubError } from '../../schemas/errors.ts';
import type { Gateway } from './gateway/gateway.ts';
import type { CheckRecord, CheckStatus, ExampleOutcome, ReproducibilityStore, StoredExample } from '../../schemas/ports/reproducibility-store.ts';
import type { Registry } from '../../schemas/ports/registry.ts';
import type { WorkLocks } from '../../schemas/ports/work-locks.ts';
import type { HubEvents } from './hub-events.ts';
import { RuntimeVersions } from './runtime-versions.ts';
import type { SearchSync } from './search-sync.ts';

/** Float32 arithmetic on another machine or library build differs in the last bits, not more. */
export const DEFAULT_TOLERANCE = 1e-5;

export interface ReproducibilityOptions {
  registry: Registry;
  gateway: Gateway;
  search: SearchSync;
  store: ReproducibilityStore;
  runtimes: RuntimeVersions;
  events: HubEvents;
  log: (message: string, error?: unknown) => void;
  /**
   * Replicas sharing one store (PostgreSQL mode): the scheduled pass and the re-check after a
   * runtime change run on one replica at a time, not once per replica.
   */
  locks?: WorkLocks;
}

/** How far apart two outputs are: the largest absolute difference, or Infinity where they cannot be compared. */
export function difference(expected: unknown, actual: unknown): number {
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (Number.isNaN(expected) && Number.isNaN(actual)) return 0;
    return expected === actual ? 0 : Math.abs(expected - actual);
  }
  if (Array.isArray(expected) || Array.isArray(actual)) {
    if (!Array.isArray(expected) || !Array.isArray(actual) || expected.length !== actual.length) return Infinity;
    let most = 0;
    for (let i = 0; i < expected.length; i++) most = Math.max(most, difference(expected[i], actual[i]));
    return most;
  }
  if (isRecord(expected) && isRecord(actual)) {
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    let most = 0;
    for (const key of keys) most = Math.max(most, key in expected && key in actual ? difference(expected[key], actual[key]) : Infinity);
    return most;
  }
  return JSON.stringify(expected) === JSON.stringify(actual) ? 0 : Infinity;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Compare an example's output with what the run gave: per named output where the output is an
 * object of them, else as one output named "output". The worst excess over its tolerance decides.
 */
export function compareOutputs(expected: unknown, actual: unknown, tolerance: StoredExample['tolerance']): { ok: boolean; output: string; difference: number } {
  const toleranceOf = (name: string) => (typeof tolerance === 'number' ? tolerance : tolerance?.[name] ?? DEFAULT_TOLERANCE);
  const outputs: [string, unknown, unknown][] =
    isRecord(expected) && isRecord(actual) ? [...new Set([...Object.keys(expected), ...Object.keys(actual)])].map((name) => [name, expected[name], actual[name]]) : [['output', expected, actual]];
  let worst = { ok: true, output: outputs[0]?.[0] ?? 'output', difference: 0, excess: -Infinity };
  for (const [name, want, got] of outputs) {
    const by = want === undefined || got === undefined ? Infinity : difference(want, got);
    const excess = by - toleranceOf(name);
    if (excess > worst.excess) worst = { ok: by <= toleranceOf(name), output: name, difference: by, excess };
  }
  return { ok: outputs.every(([name, want, got]) => want !== undefined && got !== undefined && difference(want, got) <= toleranceOf(name)), output: worst.output, difference: worst.difference };
}

/** `3e-2`, `0.5`, or `an incomparable amount` (shape or type changed). */
const formatDifference = (value: number) => (Number.isFinite(value) ? Number(value.toPrecision(2)).toExponential().replace('e+', 'e') : 'an incomparable amount (shape or type changed)');

interface DeclaredExample {
  name?: unknown;
  inputs?: unknown;
  output?: unknown;
  parameters?: unknown;
  tolerance?: unknown;
}

/**
 * The examples a published document declares, each with its method; those without an expected
 * `output` (and the warm-up input, `example_inputs`, where no example is declared) are recorded
 * from their first run. Malformed ones are reported, never thrown.
 */
export function declaredExamples(document: PublishedMetadata): { examples: (Omit<StoredExample, 'expected'> & { expected?: unknown })[]; problems: string[] } {
  const examples: (Omit<StoredExample, 'expected'> & { expected?: unknown })[] = [];
  const problems: string[] = [];
  const methods = document.servable.methods as Record<string, Method>;
  for (const [method, declaration] of Object.entries(methods)) {
    const declared = declaration.method_details?.examples;
    if (declared === undefined) continue;
    if (!Array.isArray(declared)) {
      problems.push(`methods.${method}.method_details.examples is not a list`);
      continue;
    }
    declared.forEach((raw: unknown, i) => {
      const example = raw as DeclaredExample;
      const where = `methods.${method}.method_details.examples[${i}]`;
      if (!isRecord(example) || !('inputs' in example)) return problems.push(`${where} has no inputs`);
      const tolerance = example.tolerance;
      const toleranceOk =
        tolerance === undefined ||
        (typeof tolerance === 'number' && tolerance >= 0) ||
        (isRecord(tolerance) && Object.values(tolerance).every((t) => typeof t === 'number' && t >= 0));
      if (!toleranceOk) return problems.push(`${where}.tolerance must be a number >= 0 or an object of them by output name`);
      if (example.parameters !== undefined && !isRecord(example.parameters)) return problems.push(`${where}.parameters must be an object`);
      examples.push({
        name: typeof example.name === 'string' && example.name !== '' ? example.name : `${method}#${i + 1}`,
        method,
        inputs: example.inputs,
        ...(example.parameters ? { parameters: example.parameters as Record<string, unknown> } : {}),
        ...('output' in example ? { expected: example.output } : {}),
        ...(tolerance === undefined ? {} : { tolerance: tolerance as StoredExample['tolerance'] }),
        source: 'output' in example ? 'metadata' : 'warm-up',
      });
      return undefined;
    });
  }
  const warmUp = methods.run?.method_details?.example_inputs;
  if (examples.length === 0 && warmUp !== undefined) examples.push({ name: 'warm-up', method: 'run', inputs: warmUp, source: 'warm-up' });
  return { examples, problems };
}

export class ReproducibilityChecker {
  private timer: NodeJS.Timeout | undefined;
  /** One check per version at a time; a second asks for the same result. */
  private readonly running = new Map<string, Promise<CheckRecord | undefined>>();
  private closed = false;

  constructor(private readonly options: ReproducibilityOptions) {}

  /** A version was committed: keep its examples and check them (in the background). */
  published(document: PublishedMetadata): void {
    void this.setUp(document).catch((error: unknown) => this.options.log(`reproducibility check of ${document.hub.owner}/${document.hub.name}@${document.hub.version} failed to run`, error));
  }

  private async setUp(document: PublishedMetadata): Promise<void> {
    const { owner, name, version } = document.hub;
    const { examples, problems } = declaredExamples(document);
    for (const problem of problems) this.options.log(`${owner}/${name}@${version}: ${problem}; that example is left out`);
    if (examples.length === 0) return;
    const recorded: StoredExample[] = [];
    for (const example of examples) {
      if (example.expected !== undefined) {
        recorded.push(example as StoredExample);
        continue;
      }
      // Recorded from the warm-up input's first run: later checks compare against it.
      try {
        recorded.push({ ...example, expected: await this.runExample(document, example) });
      } catch (error) {
        this.options.log(`${owner}/${name}@${version}: example "${example.name}" could not be recorded: ${toHubError(error).message}`);
      }
    }
    await this.options.store.putExamples(owner, name, version, recorded);
    if (recorded.length > 0) await this.verify({ owner, name, version }, 'publish');
  }

  private async runExample(document: PublishedMetadata, example: Omit<StoredExample, 'expected'>): Promise<unknown> {
    const { method, methodName } = this.options.gateway.resolveMethod(document, example.method);
    const { output } = await this.options.gateway.execute(document, method, methodName, { inputs: example.inputs, parameters: example.parameters, accounted: false });
    return output;
  }

  /** Re-run a version's examples now and record the result; undefined when it has none. */
  verify(ref: { owner: string; name: string; version: number }, reason: CheckRecord['reason']): Promise<CheckRecord | undefined> {
    const key = `${ref.owner}/${ref.name}@${ref.version}`;
    let running = this.running.get(key);
    if (!running) {
      running = this.check(ref, reason).finally(() => this.running.delete(key));
      this.running.set(key, running);
    }
    return running;
  }

  private async check(ref: { owner: string; name: string; version: number }, reason: CheckRecord['reason']): Promise<CheckRecord | undefined> {
    const { registry, store, runtimes } = this.options;
    const examples = await store.getExamples(ref.owner, ref.name, ref.version);
    if (examples.length === 0) return undefined;
    const record = await registry.getVersion(ref.owner, ref.name, ref.version);
    if (!record?.document || record.state !== 'published') return undefined;
    const document = record.document;
    const outcomes: ExampleOutcome[] = [];
    for (const example of examples) {
      try {
        const output = await this.runExample(document, example);
        const compared = compareOutputs(example.expected, output, example.tolerance);
        // An incomparable output (shape or type changed) has no difference to report.
        outcomes.push({ example: example.name, status: compared.ok ? 'reproducible' : 'drifted', output: compared.output, ...(Number.isFinite(compared.difference) ? { difference: compared.difference } : {}) });
      } catch (error) {
        outcomes.push({ example: example.name, status: 'fails', message: toHubError(error).message });
      }
    }
    const status: CheckStatus = outcomes.some((o) => o.status === 'fails') ? 'fails' : outcomes.some((o) => o.status === 'drifted') ? 'drifted' : 'reproducible';
    const check: CheckRecord = {
      ...ref,
      status,
      summary: summarize(status, outcomes),
      checked_at: new Date().toISOString(),
      reason,
      runtime: RuntimeVersions.fingerprint(await runtimes.describe(document)),
      examples: outcomes,
    };
    const previous = await store.latestCheck(ref.owner, ref.name, ref.version);
    await store.recordCheck(check);
    await this.publishResult(check);
    // Once per change into drift, not on every check that still finds it.
    if (status === 'drifted' && previous?.status !== 'drifted') {
      this.options.events.emit({
        event: 'drift.detected',
        owner: ref.owner,
        name: ref.name,
        version: ref.version,
        data: { servable: `${ref.owner}/${ref.name}`, version: ref.version, summary: check.summary, reason, examples: outcomes },
      });
    }
    return check;
  }

  /** The result into the version's document: model card, landing page and search read it there. */
  private async publishResult(check: CheckRecord): Promise<void> {
    const { registry, gateway, search } = this.options;
    const record = await registry.getVersion(check.owner, check.name, check.version);
    if (!record?.document) return;
    const document: PublishedMetadata = {
      ...record.document,
      hub: { ...record.document.hub, reproducibility: { status: check.status, summary: check.summary, checked_at: check.checked_at } },
    };
    await registry.updateDocument(document);
    gateway.invalidate(check.owner, check.name);
    if (record.state === 'published') await search.indexDocument(document);
  }

  /** Every version with examples, one after another (a schedule or a runtime upgrade). */
  async verifyAll(reason: CheckRecord['reason'], only?: (ref: { owner: string; name: string; version: number }) => Promise<boolean>): Promise<CheckRecord[]> {
    const done: CheckRecord[] = [];
    for (const ref of await this.options.store.versionsWithExamples()) {
      if (this.closed) break;
      if (only && !(await only(ref))) continue;
      try {
        const check = await this.verify(ref, reason);
        if (check) done.push(check);
      } catch (error) {
        this.options.log(`reproducibility check of ${ref.owner}/${ref.name}@${ref.version} failed to run`, error);
      }
    }
    return done;
  }

  /** The versions whose runtime changed since their last check (an upgrade of the hub or its libraries), re-checked. */
  async checkRuntimeUpgrades(): Promise<CheckRecord[]> {
    // Waits for a replica doing it already: the versions it re-checked then carry the new runtime.
    const recheck = () => this.verifyAll('runtime-upgrade', async (ref) => {
      const last = await this.options.store.latestCheck(ref.owner, ref.name, ref.version);
      const record = await this.options.registry.getVersion(ref.owner, ref.name, ref.version);
      if (!last || !record?.document || record.state !== 'published') return false;
      return RuntimeVersions.fingerprint(await this.options.runtimes.describe(record.document)) !== last.runtime;
    });
    return this.options.locks ? this.options.locks.withLock('reproducibility:runtime-upgrade', recheck) : recheck();
  }

  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    const locks = this.options.locks;
    this.timer = setInterval(() => {
      // Another replica on the same schedule is doing this pass already: skipped here.
      void (locks ? locks.tryWithLock('reproducibility:schedule', () => this.verifyAll('schedule')) : this.verifyAll('schedule'));
    }, intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await Promise.allSettled([...this.running.values()]);
  }

  /** The last check of a version (for the API), or a 404 when there is none. */
  async latest(ref: { owner: string; name: string; version: number }): Promise<CheckRecord> {
    const check = await this.options.store.latestCheck(ref.owner, ref.name, ref.version);
    if (!check) throw new HubError('VERSION_NOT_FOUND', `${ref.owner}/${ref.name}@${ref.version} has no reproducibility check (no examples)`);
    return check;
  }
}

function summarize(status: CheckStatus, outcomes: ExampleOutcome[]): string {
  if (status === 'reproducible') return `reproducible (${outcomes.length} example${outcomes.length === 1 ? '' : 's'})`;
  if (status === 'fails') {
    const failed = outcomes.find((o) => o.status === 'fails')!;
    return `fails: example '${failed.example}': ${failed.message ?? 'error'}`;
  }
  const drifted = outcomes.filter((o) => o.status === 'drifted').sort((a, b) => (b.difference ?? Infinity) - (a.difference ?? Infinity))[0]!;
  const by = drifted.difference ?? Infinity;
  return `drifted: output '${drifted.output}' differs by ${formatDifference(by)} (example '${drifted.example}')`;
}
