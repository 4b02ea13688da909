/**
 * Starts the hub: builds the app, publishes the demo servables on first start, listens, and shuts
 * down gracefully on SIGINT/SIGTERM (running publishes finish, stores close).
 */
import closeWithGrace from 'close-with-grace';
import { pathToFileURL } from 'node:url';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig, type HubConfig } from './config.ts';
import { publishDemoServables } from './demo.ts';

export interface RunningHub {
  url: string;
  close(): Promise<void>;
}

export async function startServer(overrides: Partial<HubConfig> = {}, env: NodeJS.ProcessEnv = process.env): Promise<RunningHub> {
  const config = loadConfig(env, overrides);
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
    if (error instanceof ConfigError) {
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
