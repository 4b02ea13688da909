/**
 * The hub's Prometheus metrics, one registry per app so that tests can build several apps in one
 * process. Names follow Prometheus conventions (`_seconds`, `_total`, `_bytes`). Per-servable
 * series name private servables only to admins (see hidePrivateServables).
 */
import { createHmac } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createHubMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'modelhub_process_' });
  const servableLabels = ['servable', 'version'] as const;
  return {
    registry,
    requests: new Counter({
      name: 'modelhub_inference_requests_total',
      help: 'Inference requests by servable and outcome',
      labelNames: [...servableLabels, 'outcome'] as const,
      registers: [registry],
    }),
    queueSeconds: new Histogram({
      name: 'modelhub_inference_queue_seconds',
      help: 'Time a request waited before its servable ran it',
      labelNames: servableLabels,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    inferenceSeconds: new Histogram({
      name: 'modelhub_inference_seconds',
      help: 'Time the runtime took to run a request (or its batch)',
      labelNames: servableLabels,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    totalSeconds: new Histogram({
      name: 'modelhub_inference_total_seconds',
      help: 'Time from receiving the inputs to having the output',
      labelNames: servableLabels,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'modelhub_batch_size',
      help: 'Requests per batch run by the dynamic batcher',
      labelNames: servableLabels,
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: [registry],
    }),
    cache: new Counter({
      name: 'modelhub_cache_events_total',
      help: 'Result cache hits, misses and evictions',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    cacheBytes: new Gauge({ name: 'modelhub_cache_bytes', help: 'Bytes held by the result cache', registers: [registry] }),
    loadedServables: new Gauge({
      name: 'modelhub_loaded_servables',
      help: 'Servable versions loaded in memory',
      registers: [registry],
    }),
    residentBytes: new Gauge({
      name: 'modelhub_resident_servable_bytes',
      help: 'Estimated memory of loaded servables',
      labelNames: servableLabels,
      registers: [registry],
    }),
    loads: new Counter({
      name: 'modelhub_servable_loads_total',
      help: 'Servable loads and unloads',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    publishes: new Counter({
      name: 'modelhub_publish_tasks_total',
      help: 'Publish tasks by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    httpSeconds: new Histogram({
      name: 'modelhub_http_request_seconds',
      help: 'HTTP request durations by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
  };
}

export type HubMetrics = ReturnType<typeof createHubMetrics>;

/** `{servable="owner/name",version="3",...}`: one label set of the Prometheus text format. */
const LABEL_SET = /\{([^}]*)\}/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/**
 * The Prometheus text with every servable a caller may not see named by an opaque id instead of
 * its name: `private-<16 hex>`, an HMAC under a per-process secret, so series of one servable still
 * group together but the name cannot be recovered or confirmed by guessing. `isVisible` decides per
 * servable version (anonymously, for the hub's public scrape).
 */
export async function hidePrivateServables(
  text: string,
  isVisible: (owner: string, name: string, version: number | undefined) => Promise<boolean>,
  secret: Buffer,
): Promise<string> {
  const decisions = new Map<string, Promise<boolean>>();
  const visible = (servable: string, version: string | undefined): Promise<boolean> => {
    const key = `${servable}@${version ?? ''}`;
    let decision = decisions.get(key);
    if (!decision) {
      const slash = servable.indexOf('/');
      const number = version === undefined ? undefined : Number(version);
      decision =
        slash <= 0 || (number !== undefined && !Number.isSafeInteger(number))
          ? Promise.resolve(false)
          : isVisible(servable.slice(0, slash), servable.slice(slash + 1), number).catch(() => false);
      decisions.set(key, decision);
    }
    return decision;
  };
  const lines = text.split('\n');
  const out = await Promise.all(
    lines.map(async (line) => {
      if (line.startsWith('#') || !line.includes('servable="')) return line;
      const set = LABEL_SET.exec(line);
      if (!set) return line;
      const labels = [...set[1]!.matchAll(LABEL)].map((m) => ({ name: m[1]!, value: m[2]! }));
      const servable = labels.find((l) => l.name === 'servable')?.value;
      if (servable === undefined || (await visible(servable, labels.find((l) => l.name === 'version')?.value))) return line;
      const opaque = `private-${createHmac('sha256', secret).update(servable).digest('hex').slice(0, 16)}`;
      const rewritten = labels.map((l) => `${l.name}="${l.name === 'servable' ? opaque : l.value}"`).join(',');
      return `${line.slice(0, set.index)}{${rewritten}}${line.slice(set.index + set[0].length)}`;
    }),
  );
  return out.join('\n');
}
