/**
 * A CPU profile of a process that cannot take `--cpu-prof` (Node refuses it in NODE_OPTIONS, and
 * the bench starts the hub through a helper): `NODE_OPTIONS="--import ./bench/cpu-profile.mjs"`
 * starts the V8 profiler at start-up and writes `<CPU_PROFILE_DIR>/hub-<pid>.cpuprofile` (open it in
 * Chrome DevTools or speedscope) when the process exits. `npm run bench` passes it on with
 * BENCH_HUB_NODE_OPTIONS; see bench/README.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import inspector from 'node:inspector';
import { isMainThread } from 'node:worker_threads';
import process from 'node:process';

if (isMainThread) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  const folder = process.env.CPU_PROFILE_DIR ?? process.cwd();
  // The inspector answers a session on the main thread synchronously, so this completes in 'exit'.
  process.once('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (!error) fs.writeFileSync(path.join(folder, `hub-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
