// `npm run build`: compiles the hub, SDK and CLI into dist/ (tsconfig.build.json, with source maps)
// and copies what the compiled code reads beside itself at run time: the worker entries (.mjs), the
// Python worker and runner, the web catalogue's assets and the take-home templates.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const SOURCES = ['schemas', 'servables', 'builder', 'hub-server', 'sdk'];

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

function copyAssets(dir) {
  for (const entry of readdirSync(path.join(root, dir))) {
    const relative = path.join(dir, entry);
    if (statSync(path.join(root, relative)).isDirectory()) {
      if (entry !== 'node_modules' && entry !== '__pycache__') copyAssets(relative);
    } else if (!/\.(ts|tsx)$/.test(entry)) {
      cpSync(path.join(root, relative), path.join(dist, relative));
    }
  }
}
for (const dir of SOURCES) copyAssets(dir);
