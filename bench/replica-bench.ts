/**
 * `npm run bench:replicas` (issue 12): hub replicas on PostgreSQL behind HAProxy, on a PostgreSQL
 * cluster of the bench's own (scripts/postgres/start.sh in a temporary folder) and a blob folder
 * every replica mounts. Every figure is a ratio to another measured in the same run, loads
 * alternating round by round, so that drift in the machine's load hits both sides alike.
 *
 *  1. run route, 64 connections, through HAProxy: 2 replicas against 1 (one HAProxy per backend set);
 *  2. run route, 64 connections, straight to one hub: PostgreSQL mode against SQLite mode, and the
 *     PostgreSQL transactions per warm run request, anonymous and with an API token
 *     (pg_stat_database, less the idle rate of the replicas' heartbeats and job polls over as long);
 *  3. publish throughput: N publishes of a small ONNX model, 6 at a time, through HAProxy with 3
 *     replicas against 1;
 *  4. how long until a job is resumed after its replica is SIGKILLed (a publish paused at warm-up by
 *     the crash tests' hook), against the lease.
 *
 *   npm run bench:replicas                       # 5 s loads, 3 rounds, 12 publishes, 3 kills
 *   npm run bench:replicas -- --duration 10 --rounds 5 --publishes 24 --kills 5 --lease 3
 *   npm run bench:replicas -- --parts publish,resume   # some of: run, publish, resume
 *
 * Writes bench/replica-results.json and prints a table; bench/README.md says what was measured here.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import pg from 'pg';
import { buildMlpOnnx } from '../builder/demo/onnx-writer.ts';
import { Haproxy } from '../test/helpers/haproxy.ts';
import { onnxMetadata, publishAndWait, publishRaw, waitForTask } from '../test/helpers/hub-http.ts';
import { ROOT, startTestHub, type TestHub } from '../test/helpers/test-hub.ts';

const argument = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
};
const DURATION = argument('duration', 5);
const ROUNDS = argument('rounds', 3);
const PUBLISHES = argument('publishes', 12);
const KILLS = argument('kills', 3);
const LEASE_SECONDS = argument('lease', 3);
const CONNECTIONS = 64;
const partsIndex = process.argv.indexOf('--parts');
/** `--parts publish,resume`: only these of run, publish, resume (all by default). */
const PARTS = new Set((partsIndex >= 0 ? process.argv[partsIndex + 1]! : 'run,publish,resume').split(','));
const MLP = { inputSize: 784, hidden: 32, classes: 10 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const round = (value: number, digits = 2) => Number(value.toFixed(digits));

/** Unique run bodies (the first pixel carries a counter), so the result cache never answers. */
function runBodies(): () => string {
  const tail = Array.from({ length: MLP.inputSize - 1 }, (_, i) => ((i * 37) % 255) / 255).join(',');
  let counter = 0;
  return () => `{"inputs":[[${++counter / 1e9},${tail}]]}`;
}

interface Measured {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  requests: number;
  non2xx: number;
  errors: number;
}

async function load(url: string, seconds = DURATION, headers: Record<string, string> = {}): Promise<Measured> {
  const body = runBodies();
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    requests: [{ setupRequest: (request) => ({ ...request, body: body() }) }],
  });
  return {
    rps: result.requests.average,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** The bench's own PostgreSQL cluster (initdb in a temporary folder), stopped at the end. */
async function startPostgres(): Promise<{ url: string; stop: () => Promise<void> }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-pg-bench-'));
  const env = { ...process.env, MODELHUB_PG_ROOT: root };
  const { stdout } = await promisify(execFile)('bash', [path.join(ROOT, 'scripts/postgres/start.sh')], { env });
  return {
    url: /MODELHUB_TEST_DATABASE_URL=(\S+)/.exec(stdout)![1]!,
    stop: async () => {
      await promisify(execFile)('bash', [path.join(ROOT, 'scripts/postgres/stop.sh')], { env }).catch(() => undefined);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Transactions committed in the hub's database so far (every autocommit query is one). */
async function transactions(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()');
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

/** `modelhub --json token create` on the shared database: an API token every replica accepts. */
async function createToken(databaseUrl: string): Promise<string> {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-bench-cli-'));
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--json', 'token', 'create', '--user', 'bench', '--data', folder], {
      env: { ...process.env, MODELHUB_DATABASE_URL: databaseUrl },
    });
    return (JSON.parse(stdout) as { token: string }).token;
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (spawnSync('haproxy', ['-v']).status !== 0) throw new Error('haproxy is not installed (scripts/install-test-deps.sh installs it)');
  const started = performance.now();
  const postgres = await startPostgres();
  const cleanups: (() => Promise<void>)[] = [postgres.stop];
  const dirs: string[] = [];
  const results: Record<string, unknown> = { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, duration_s: DURATION, rounds: ROUNDS, connections: CONNECTIONS };
  try {
    const sharedBlobs = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-bench-blobs-'));
    dirs.push(sharedBlobs);
    const pgEnv = { MODELHUB_DATABASE_URL: postgres.url, MODELHUB_SEARCH: 'postgres', MODELHUB_JOB_LEASE_SECONDS: String(LEASE_SECONDS), MODELHUB_LOG_LEVEL: 'warn' };
    const replicaDir = () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-bench-replica-'));
      fs.symlinkSync(sharedBlobs, path.join(dir, 'blobs'));
      dirs.push(dir);
      return dir;
    };
    const startReplica = async (extra: Record<string, string> = {}): Promise<TestHub> => {
      const hub = await startTestHub({ env: { ...pgEnv, ...extra }, dataDir: replicaDir() });
      cleanups.unshift(() => hub.stop());
      return hub;
    };
    const replicas = [await startReplica(), await startReplica(), await startReplica()];
    const sqliteHub = await startTestHub({ env: { MODELHUB_LOG_LEVEL: 'warn' } });
    cleanups.unshift(() => sqliteHub.stop());
    const proxies: Haproxy[] = [];
    for (const count of [1, 2, 3]) {
      const proxy = new Haproxy();
      // Checked every 2 s, down after 5 failures: a replica busy under 64 connections answers its
      // ready check late, and a 1-replica backend marked down would answer 503 for all.
      await proxy.start(await freePort(), replicas.slice(0, count).map((replica) => replica.url), 'check inter 2s fall 5 rise 1');
      cleanups.unshift(() => proxy.stop());
      proxies.push(proxy);
    }

    const model = buildMlpOnnx(MLP);
    for (const hub of [replicas[0]!, sqliteHub]) {
      const { task } = await publishAndWait(hub.url, onnxMetadata('bench', 'mlp'), [{ name: 'm.onnx', bytes: model }]);
      if (task.status !== 'SUCCEEDED') throw new Error(`publishing the bench model failed: ${JSON.stringify(task)}`);
    }
    const runPath = '/api/v1/servables/bench/mlp/run';
    // Every replica warm (servable loaded, version cached) before anything is measured.
    for (const url of [...replicas.map((r) => r.url), sqliteHub.url, ...proxies.map((p) => p.url)]) await load(`${url}${runPath}`, 1);

    if (PARTS.has('run')) {
      // 1 and 2: the loads alternate in every round; ratios are medians of the rounds' ratios.
      const scenarios = {
        haproxy_1_replica: `${proxies[0]!.url}${runPath}`,
        haproxy_2_replicas: `${proxies[1]!.url}${runPath}`,
        direct_postgres_mode: `${replicas[0]!.url}${runPath}`,
        direct_sqlite_mode: `${sqliteHub.url}${runPath}`,
      };
      const rounds: Record<string, Measured[]> = Object.fromEntries(Object.keys(scenarios).map((key) => [key, []]));
      for (let i = 0; i < ROUNDS; i++) {
        // Odd rounds in the reverse order, so that no scenario always follows the same one.
        const order = i % 2 === 0 ? Object.entries(scenarios) : Object.entries(scenarios).reverse();
        for (const [key, url] of order) {
          rounds[key]!.push(await load(url));
          process.stdout.write(`round ${i + 1}/${ROUNDS} ${key}: ${round(rounds[key]!.at(-1)!.rps, 0)} req/s\n`);
        }
      }
      const ratio = (a: string, b: string) => round(median(rounds[a]!.map((m, i) => m.rps / rounds[b]![i]!.rps)));
      const summary = (key: string) => {
        const all = rounds[key]!;
        return { rps: round(median(all.map((m) => m.rps)), 0), p50_ms: median(all.map((m) => m.p50_ms)), p99_ms: median(all.map((m) => m.p99_ms)), non2xx: all.reduce((a, m) => a + m.non2xx, 0), errors: all.reduce((a, m) => a + m.errors, 0) };
      };
      results.run_route = {
        ...Object.fromEntries(Object.keys(scenarios).map((key) => [key, summary(key)])),
        two_replicas_over_one: ratio('haproxy_2_replicas', 'haproxy_1_replica'),
        postgres_over_sqlite: ratio('direct_postgres_mode', 'direct_sqlite_mode'),
      };

      // PostgreSQL transactions per warm run request, anonymous and with an API token: the load's
      // count less the idle rate (heartbeats, job polls) over as long.
      const idleBefore = await transactions(postgres.url);
      const idleStarted = performance.now();
      await sleep(DURATION * 1000);
      const idlePerSecond = ((await transactions(postgres.url)) - idleBefore - 1) / ((performance.now() - idleStarted) / 1000);
      const token = await createToken(postgres.url);
      const perRequest = async (headers: Record<string, string>) => {
        const loadBefore = await transactions(postgres.url);
        const loadStarted = performance.now();
        const measured = await load(`${replicas[0]!.url}${runPath}`, DURATION, headers);
        const loadCount = (await transactions(postgres.url)) - loadBefore - 1;
        const background = idlePerSecond * ((performance.now() - loadStarted) / 1000);
        return { requests: measured.requests, non2xx: measured.non2xx, transactions_during_load: loadCount, per_request: round(Math.max(0, loadCount - background) / measured.requests, 4) };
      };
      results.postgres_per_run_request = {
        idle_transactions_per_second: round(idlePerSecond, 1),
        anonymous: await perRequest({}),
        api_token: await perRequest({ authorization: `Bearer ${token}` }),
      };
    }

    if (PARTS.has('publish')) {
      // 3: publish throughput, 6 at a time, through 1 and 3 replicas (each publish a new version).
      const publishAll = async (url: string, name: string): Promise<number> => {
        const t0 = performance.now();
        let next = 0;
        const worker = async () => {
          while (next < PUBLISHES) {
            next++;
            const accepted = await publishRaw(url, onnxMetadata('bench', name), [{ name: 'm.onnx', bytes: model }]);
            if (accepted.status !== 202) throw new Error(`publish answered ${accepted.status}: ${JSON.stringify(accepted.body)}`);
            const task = await waitForTask(url, accepted.body.task_id);
            if (task.status !== 'SUCCEEDED') throw new Error(`publish failed: ${JSON.stringify(task)}`);
          }
        };
        await Promise.all(Array.from({ length: 6 }, worker));
        return (PUBLISHES / (performance.now() - t0)) * 60_000;
      };
      const perMinute: { one: number[]; three: number[] } = { one: [], three: [] };
      for (let i = 0; i < Math.max(1, Math.min(ROUNDS, 2)); i++) {
        if (i % 2 === 0) perMinute.one.push(await publishAll(proxies[0]!.url, `pub-one-${i}`));
        perMinute.three.push(await publishAll(proxies[2]!.url, `pub-three-${i}`));
        if (i % 2 === 1) perMinute.one.push(await publishAll(proxies[0]!.url, `pub-one-${i}`));
        process.stdout.write(`publish round ${i + 1}: 1 replica ${round(perMinute.one.at(-1)!, 1)}/min, 3 replicas ${round(perMinute.three.at(-1)!, 1)}/min\n`);
      }
      // A publish attempted more than once lost its lease while its replica still built it (a
      // replica too busy to renew in time): the build was done twice. Counted here, for the reading.
      const client = new pg.Client({ connectionString: postgres.url });
      await client.connect();
      const again = await client.query<{ n: string }>(`SELECT count(*) AS n FROM jobs WHERE kind = 'publish' AND attempts > 1`).finally(() => client.end());
      results.publish_throughput = {
        jobs_attempted_twice: Number(again.rows[0]!.n),
        publishes_per_round: PUBLISHES,
        concurrent: 6,
        one_replica_per_minute: round(median(perMinute.one), 1),
        three_replicas_per_minute: round(median(perMinute.three), 1),
        three_over_one: round(median(perMinute.three.map((three, i) => three / perMinute.one[i]!))),
      };
    }

    if (PARTS.has('resume')) {
      // 4: a publish paused at warm-up on a replica of its own, SIGKILLed; resumed when another
      // replica's claim appends "building it again" to the task's log.
      const resumeSeconds: number[] = [];
      for (let i = 0; i < KILLS; i++) {
        const doomed = await startReplica({ MODELHUB_TEST_PAUSE_AT_STEP: 'warm-up' });
        const accepted = await publishRaw(doomed.url, onnxMetadata('bench', `resumed-${i}`), [{ name: 'm.onnx', bytes: model }]);
        if (accepted.status !== 202) throw new Error(`publish answered ${accepted.status}`);
        const taskUrl = `${replicas[0]!.url}/api/v1/tasks/${accepted.body.task_id}`;
        type Task = { status: string; steps?: { name: string; status: string }[]; log?: string[] };
        const read = async (): Promise<Task> => (await (await fetch(taskUrl)).json()) as Task;
        while ((await read()).steps?.find((step) => step.name === 'warm-up')?.status !== 'RUNNING') await sleep(50);
        await doomed.kill();
        const killedAt = performance.now();
        for (;;) {
          const task = await read();
          if (JSON.stringify(task.log ?? []).includes('building it again on another replica')) break;
          if (performance.now() - killedAt > LEASE_SECONDS * 10_000) throw new Error('the job was not resumed within 10 leases');
          await sleep(25);
        }
        resumeSeconds.push((performance.now() - killedAt) / 1000);
        const finished = await waitForTask(replicas[0]!.url, accepted.body.task_id);
        if (finished.status !== 'SUCCEEDED') throw new Error(`the resumed publish ended ${finished.status}`);
        process.stdout.write(`kill ${i + 1}: resumed after ${round(resumeSeconds.at(-1)!)} s (lease ${LEASE_SECONDS} s)\n`);
      }
      results.resume_after_sigkill = {
        lease_s: LEASE_SECONDS,
        seconds: resumeSeconds.map((s) => round(s)),
        median_s: round(median(resumeSeconds)),
        max_s: round(Math.max(...resumeSeconds)),
        max_over_lease: round(Math.max(...resumeSeconds) / LEASE_SECONDS),
        goal: '<= 2 x lease',
      };
    }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  }
  results.total_s = round((performance.now() - started) / 1000, 0);
  fs.writeFileSync(path.join(ROOT, 'bench', 'replica-results.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
