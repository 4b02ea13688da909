/**
 * The hub's footprint (issue 16): how long a restart takes to answer /v2/health/ready on a data
 * folder holding the demo servables, how much memory the whole hub (every process it started) holds
 * idle, before and after each demo servable ran once, and what `import 'modelhub'` costs a client
 * project. The hub runs as `npm start` runs it: the compiled JavaScript in dist/ (built first when
 * missing or `--build` is given).
 *
 *   npm run bench:footprint            # alone
 *   npm run bench                      # also runs it first, into bench/results.json
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The hub as `npm start` runs it: compiled, with the production memory settings. */
const SERVE = path.join(ROOT, 'scripts/serve.sh');
const SDK = path.join(ROOT, 'dist/sdk/index.js');

export interface FootprintResult {
  restart_to_ready_ms: { runs: number[]; median: number };
  idle_rss_mb: { after_restart: number; after_each_demo_ran: number; processes_after_runs: number };
  import_modelhub: { rss_mb: number; heavy_packages_loaded: string[]; ms: number };
  targets: { target: string; measured: number; met: boolean }[];
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** RSS of a process and all its descendants (Python workers, runners), from /proc, in MB. */
function treeRssMb(rootPid: number): { mb: number; processes: number } {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command (which may hold spaces) start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      const ppid = Number(fields[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
      const status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
      rss.set(pid, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0));
    } catch {
      // the process ended while we looked
    }
  }
  let kb = 0;
  let processes = 0;
  const stack = [rootPid];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    kb += rss.get(pid) ?? 0;
    processes += 1;
    stack.push(...(children.get(pid) ?? []));
  }
  return { mb: kb / 1024, processes };
}

interface StartedHub {
  child: ChildProcess;
  url: string;
  readyMs: number;
}

/** Starts the compiled hub on `dataDir` and resolves once /v2/health/ready answers 200. */
async function startHub(dataDir: string, demo: boolean): Promise<StartedHub> {
  const started = performance.now();
  // sh execs node (scripts/serve.sh): the child's pid is the hub's own.
  const child = spawn('sh', [SERVE], {
    env: { ...process.env, MODELHUB_DATA: dataDir, MODELHUB_PORT: '0', MODELHUB_HOST: '127.0.0.1', MODELHUB_DEMO: demo ? '1' : '0', MODELHUB_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the hub did not start in 5 minutes:\n${output}`)), 300_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = /listening on (http:\/\/\S+)/.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the hub exited (${code}):\n${output}`)));
  });
  for (;;) {
    const ready = await fetch(`${url}/v2/health/ready`).then((reply) => reply.ok, () => false);
    if (ready) break;
    await sleep(10);
  }
  return { child, url, readyMs: performance.now() - started };
}

async function stopHub(hub: StartedHub): Promise<void> {
  const exited = new Promise((resolve) => hub.child.once('exit', resolve));
  hub.child.kill('SIGTERM');
  await exited;
}

/** `import 'modelhub'` from a fresh project (node_modules/modelhub links to this checkout). */
function importModelhub(): FootprintResult['import_modelhub'] {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-client-'));
  try {
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'client', type: 'module', private: true }));
    fs.mkdirSync(path.join(project, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'modelhub'), 'dir');
    // What the import reached: CommonJS packages in the require cache (tfjs, better-sqlite3 and
    // onnxruntime-node are CommonJS), native libraries in the process's memory map (below).
    const main = `
      const started = performance.now();
      const modelhub = await import('modelhub');
      const ms = performance.now() - started;
      const requireCache = (await import('node:module')).createRequire(import.meta.url).cache;
      const packages = new Set(Object.keys(requireCache).map((file) => /node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(file)?.[1]).filter(Boolean));
      console.log(JSON.stringify({ ms, rss: process.memoryUsage().rss, exports: Object.keys(modelhub).length, cjs: [...packages] }));`;
    fs.writeFileSync(path.join(project, 'main.mjs'), main);
    const out = execFileSync(process.execPath, ['main.mjs'], { cwd: project, encoding: 'utf8' });
    const report = JSON.parse(out.trim().split('\n').pop()!) as { ms: number; rss: number; exports: number; cjs: string[] };
    const heavy = ['onnxruntime-node', 'better-sqlite3', '@tensorflow/tfjs', 'h5wasm', 'dockerode', 'pg', 'minio', '@elastic/elasticsearch'];
    const maps = execFileSync(process.execPath, ['-e', `import('modelhub').then(() => process.stdout.write(require('fs').readFileSync('/proc/self/maps', 'utf8')))`], { cwd: project, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const loaded = heavy.filter((name) => report.cjs.includes(name) || maps.includes(`node_modules/${name}/`));
    if (report.exports === 0) throw new Error('import modelhub gave no exports');
    return { rss_mb: report.rss / 1024 / 1024, heavy_packages_loaded: loaded, ms: report.ms };
  } finally {
    fs.rmSync(project, { recursive: true, force: true });
  }
}

export async function benchFootprint(options: { restarts?: number; build?: boolean; log?: (line: string) => void } = {}): Promise<FootprintResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  if (options.build || !fs.existsSync(path.join(ROOT, 'dist/hub-server/server.js')) || !fs.existsSync(SDK)) {
    log('building dist/ (npm run build) ...');
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { stdio: 'inherit' });
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-footprint-'));
  try {
    log('first start: publishing the demo servables ...');
    await stopHub(await startHub(dataDir, true));
    const runs: number[] = [];
    let hub: StartedHub | undefined;
    for (let i = 0; i < (options.restarts ?? 5); i++) {
      if (hub) await stopHub(hub);
      hub = await startHub(dataDir, true);
      runs.push(hub.readyMs);
    }
    // Idle: what the hub holds a few seconds after start, then after each demo servable ran once
    // (their runtime loaded, their models resident), all processes of the hub together.
    await sleep(3000);
    const afterRestart = treeRssMb(hub!.child.pid!).mb;
    for (const name of ['mnist-mlp', 'silero-vad']) {
      const request = fs.readFileSync(path.join(dataDir, 'demo', `${name}.request.json`), 'utf8');
      const reply = await fetch(`${hub!.url}/api/v1/servables/demo/${name}/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: request });
      if (!reply.ok) throw new Error(`demo/${name} did not run: ${reply.status} ${await reply.text()}`);
    }
    await sleep(3000);
    const afterRuns = treeRssMb(hub!.child.pid!);
    await stopHub(hub!);

    const imported = importModelhub();
    const restart = { runs: runs.map((ms) => Math.round(ms)), median: Math.round(median(runs)) };
    const result: FootprintResult = {
      restart_to_ready_ms: restart,
      idle_rss_mb: { after_restart: Math.round(afterRestart), after_each_demo_ran: Math.round(afterRuns.mb), processes_after_runs: afterRuns.processes },
      import_modelhub: { rss_mb: Math.round(imported.rss_mb), heavy_packages_loaded: imported.heavy_packages_loaded, ms: Math.round(imported.ms) },
      targets: [
        { target: 'restart to /v2/health/ready (median ms) <= 1500', measured: restart.median, met: restart.median <= 1500 },
        { target: 'idle RSS of the whole hub, demos ran once (MB) <= 150', measured: Math.round(afterRuns.mb), met: afterRuns.mb <= 150 },
        { target: "import 'modelhub' RSS (MB) <= 60", measured: Math.round(imported.rss_mb), met: imported.rss_mb <= 60 },
        { target: "import 'modelhub' loads no onnxruntime, SQLite or TF.js (count loaded)", measured: imported.heavy_packages_loaded.length, met: imported.heavy_packages_loaded.length === 0 },
      ],
    };
    return result;
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export function printFootprint(result: FootprintResult, log: (line: string) => void = (line) => console.log(line)): void {
  log(`restart to ready: median ${result.restart_to_ready_ms.median} ms (runs ${result.restart_to_ready_ms.runs.join(', ')} ms)`);
  log(`idle RSS, whole hub: ${result.idle_rss_mb.after_restart} MB after a restart, ${result.idle_rss_mb.after_each_demo_ran} MB after each demo ran once (${result.idle_rss_mb.processes_after_runs} processes)`);
  log(`import 'modelhub': ${result.import_modelhub.rss_mb} MB RSS, ${result.import_modelhub.ms} ms, heavy packages loaded: ${result.import_modelhub.heavy_packages_loaded.join(', ') || 'none'}`);
  for (const t of result.targets) log(`${t.met ? 'MET    ' : 'NOT MET'}  ${t.target}: ${t.measured}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await benchFootprint({ build: process.argv.includes('--build'), restarts: Number(process.argv[process.argv.indexOf('--restarts') + 1]) || 5 });
  printFootprint(result);
  const file = path.join(ROOT, 'bench/footprint.json');
  fs.writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), machine: { cpus: os.cpus().length, loadavg_at_end: os.loadavg() }, ...result }, null, 2)}\n`);
  console.log(`wrote ${path.relative(ROOT, file)}`);
}
