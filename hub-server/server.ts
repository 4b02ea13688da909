/**
 * Starts the hub: builds the app, publishes the demo servables on first start, listens, and shuts
 * down gracefully on SIGINT/SIGTERM (running publishes finish, stores close).
 */
import closeWithGrace from 'close-with-grace';
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig, type HubConfig } from './config.ts';
import { publishDemoServables } from './demo.ts';
import { DataFolderInUseError } from './adapters/data-folder-lock.ts';

export interface RunningHub {
  url: string;
  close(): Promise<void>;
}

/** A port the OS says is free now, for MODELHUB_PORT=0. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startServer(overrides: Partial<HubConfig> = {}, env: NodeJS.ProcessEnv = process.env): Promise<RunningHub> {
  let config = loadConfig(env, overrides);
  // Port 0 means "any free port": choose it before building the app, so that everything derived
  // from the public URL (identifier links, citations) names the port the hub really listens on.
  if (config.port === 0) {
    const port = await freePort(config.host);
    config = loadConfig({ ...env, MODELHUB_PORT: String(port) }, { ...overrides, port });
  }
  const app = await buildApp(config);
  const demos = config.demo ? await publishDemoServables(app) : [];
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const lines = [`modelhub is listening on ${url} (data in ${config.dataDir})`, `  API docs:  ${url}/docs`];
  for (const demo of demos) {
    lines.push(
      `  try ${demo.servable}:  curl -s -X POST ${url}/api/v1/servables/${demo.servable}/run -H 'content-type: application/json' -d @${demo.requestFile}`,
    );
  }
  lines.push(`  search:    curl -s '${url}/api/v1/search?q=digit'`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return { url, close: () => app.close() };
}

async function main(): Promise<void> {
  let hub: RunningHub;
  try {
    hub = await startServer();
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DataFolderInUseError) {
      process.stderr.write(`modelhub: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  closeWithGrace({ delay: 30_000 }, async ({ signal, err }) => {
    if (err) process.stderr.write(`modelhub: stopping after an error: ${err.stack ?? err.message}\n`);
    else process.stderr.write(`modelhub: ${signal}, stopping\n`);
    await hub.close();
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
