/**
 * The hub's Prometheus metrics, one registry per app so that tests can build several apps in one
 * process. Names follow Prometheus conventions (`_seconds`, `_total`, `_bytes`).
 */
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
