/**
 * `modelhub endpoint start|stop|status|list`. `start` registers the endpoint under the caller's
 * token and runs its agent (endpoint/agent.ts, loaded only here: the SDK itself stays a client);
 * in the foreground, or with --detach in the background with its log in the endpoint's folder.
 * The folder is `$MODELHUB_ENDPOINT_HOME/<name>` (default `~/.modelhub/endpoints/<name>`).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { commandKit } from '../../sdk/cli-commands.ts';
import { formatTable, processOutput, type Output } from '../../sdk/cli-output.ts';
import { deleteEndpoint, getEndpoint, listEndpoints, registerEndpoint, type EndpointDocument } from '../../sdk/operations/endpoints.ts';
import { resolveConnection } from '../../sdk/saved-login.ts';
import type { SlurmSettings } from '../endpoint-agent/slurm-executor.ts';

export const endpointHome = (env: NodeJS.ProcessEnv = process.env) => env.MODELHUB_ENDPOINT_HOME ?? path.join(os.homedir(), '.modelhub', 'endpoints');

/** What `start` leaves in the endpoint's folder for `stop` and `status`. */
interface AgentFile {
  pid: number;
  hub: string;
  endpoint: string;
  started_at: string;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The `--slurm-*` options of `modelhub endpoint start`: the executor's settings but its per-worker concurrency. */
export type SlurmFlags = Omit<SlurmSettings, 'concurrency'>;

export function registerEndpointCommands(program: Command, output: Output = processOutput): void {
  const { globals, print, action } = commandKit(output);
  const connection = (command: Command) => {
    const { url, token } = globals(command);
    const resolved = resolveConnection({ ...(url ? { url } : {}), ...(token ? { token } : {}) });
    return { hubUrl: resolved.url, ...(resolved.token ? { accessToken: resolved.token } : {}) };
  };
  const describe = (e: EndpointDocument) =>
    `${e.endpoint}  ${e.status}  executor ${e.executor}  last seen ${e.last_seen ?? 'never'}  queued ${e.queued}  running ${e.running}`;

  const endpoint = program.command('endpoint').description('run servables on your own machines: compute endpoints');

  endpoint
    .command('start')
    .description('register this machine as a compute endpoint and run its agent')
    .requiredOption('--name <name>', 'the endpoint name (owner is you)')
    .addOption(new Option('--executor <executor>', 'where runs execute').choices(['local', 'slurm']).default('local'))
    .option('--partition <partition>', 'Slurm partition')
    .option('--account <account>', 'Slurm account')
    .option('--time <limit>', 'Slurm time limit of each worker job (e.g. 01:00:00)')
    .option('--nodes <n>', 'Slurm nodes per worker job', Number)
    .option('--cpus <n>', 'Slurm cpus per worker job', Number)
    .option('--gpus <spec>', 'Slurm GPUs per worker job (e.g. 1 or a100:1)')
    .option('--prefix <lines>', 'lines put at the top of each worker job script (module load ..., #SBATCH ...)')
    .option('--max-workers <n>', 'Slurm worker jobs at most', Number)
    .option('--idle-seconds <s>', 'a Slurm worker job with no work this long ends', Number)
    .option('--share-user <user...>', 'users who may run on it')
    .option('--share-group <group...>', 'groups whose members may run on it')
    .option('--detach', 'run the agent in the background')
    .action(
      action(async (options: { name: string; executor: 'local' | 'slurm'; detach?: boolean; shareUser?: string[]; shareGroup?: string[] } & SlurmFlags, command: Command) => {
        const params = connection(command);
        const stateDir = path.join(endpointHome(), options.name);
        mkdirSync(stateDir, { recursive: true });
        const agentFile = path.join(stateDir, 'agent.json');
        if (existsSync(agentFile)) {
          const running = JSON.parse(readFileSync(agentFile, 'utf8')) as AgentFile;
          if (alive(running.pid)) throw new Error(`the agent of ${options.name} runs already (pid ${running.pid}); modelhub endpoint stop --name ${options.name}`);
        }
        if (options.detach) {
          const args = process.argv.slice(1).filter((arg) => arg !== '--detach');
          const log = openSync(path.join(stateDir, 'agent.log'), 'a');
          const child = spawn(process.execPath, [...process.execArgv, ...args], { detached: true, stdio: ['ignore', log, log], env: process.env });
          child.unref();
          print(command, { pid: child.pid, log: path.join(stateDir, 'agent.log') }, () => `agent started (pid ${child.pid}); log: ${path.join(stateDir, 'agent.log')}`);
          return;
        }
        const slurm = {
          ...(options.partition ? { partition: options.partition } : {}),
          ...(options.account ? { account: options.account } : {}),
          ...(options.time ? { time: options.time } : {}),
          ...(options.nodes ? { nodes: options.nodes } : {}),
          ...(options.cpus ? { cpus: options.cpus } : {}),
          ...(options.gpus ? { gpus: options.gpus } : {}),
          ...(options.prefix ? { prefix: options.prefix } : {}),
          ...(options.maxWorkers ? { maxWorkers: options.maxWorkers } : {}),
          ...(options.idleSeconds ? { idleSeconds: options.idleSeconds } : {}),
        };
        const registered = await registerEndpoint(params, {
          name: options.name,
          executor: options.executor,
          resources: options.executor === 'slurm' ? { slurm } : {},
          ...(options.shareUser || options.shareGroup ? { shared_with: { ...(options.shareUser ? { users: options.shareUser } : {}), ...(options.shareGroup ? { groups: options.shareGroup } : {}) } } : {}),
        });
        const { startAgent } = await import('../endpoint-agent/start-agent.ts');
        const agent = await startAgent({ hubUrl: params.hubUrl, endpoint: registered.endpoint, token: registered.token, stateDir, executor: options.executor, slurm, log: (line) => output.err(line) });
        writeFileSync(agentFile, JSON.stringify({ pid: process.pid, hub: params.hubUrl, endpoint: registered.endpoint, started_at: new Date().toISOString() } satisfies AgentFile));
        output.err(`endpoint ${registered.endpoint} (${options.executor}) started; stop it with modelhub endpoint stop --name ${options.name}`);
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
        await agent.stop();
        rmSync(agentFile, { force: true });
      }),
    );

  endpoint
    .command('stop')
    .description('stop the agent of an endpoint started on this machine')
    .requiredOption('--name <name>', 'the endpoint name')
    .action(
      action(async (options: { name: string }, command: Command) => {
        const agentFile = path.join(endpointHome(), options.name, 'agent.json');
        if (!existsSync(agentFile)) throw new Error(`no agent of ${options.name} runs on this machine`);
        const running = JSON.parse(readFileSync(agentFile, 'utf8')) as AgentFile;
        if (alive(running.pid)) process.kill(running.pid, 'SIGTERM');
        for (let waited = 0; alive(running.pid) && waited < 30_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
        rmSync(agentFile, { force: true });
        print(command, { stopped: running.endpoint, pid: running.pid }, () => `stopped ${running.endpoint} (pid ${running.pid})`);
      }),
    );

  endpoint
    .command('status')
    .description("an endpoint as the hub sees it (and this machine's agent, if any)")
    .argument('<endpoint>', 'owner/name, or the name of an endpoint started on this machine')
    .action(
      action(async (name: string, _options: object, command: Command) => {
        const agentFile = path.join(endpointHome(), name, 'agent.json');
        const local = !name.includes('/') && existsSync(agentFile) ? (JSON.parse(readFileSync(agentFile, 'utf8')) as AgentFile) : undefined;
        const full = name.includes('/') ? name : local?.endpoint;
        if (!full) throw new Error(`give the endpoint as owner/name (no agent of ${name} runs on this machine)`);
        const document = await getEndpoint(connection(command), full);
        const agent = local ? { pid: local.pid, running: alive(local.pid) } : undefined;
        print(command, { ...document, ...(agent ? { agent } : {}) }, () => describe(document) + (agent ? `\nagent pid ${agent.pid} ${agent.running ? 'running' : 'not running'}` : ''));
      }),
    );

  endpoint
    .command('list')
    .description('the compute endpoints you may use')
    .option('--owner <owner>', 'only those of this owner')
    .action(
      action(async (options: { owner?: string }, command: Command) => {
        const items = await listEndpoints(connection(command), options.owner ? { owner: options.owner } : {});
        print(command, items, () =>
          items.length === 0 ? 'no endpoints' : formatTable(['endpoint', 'status', 'executor', 'last seen', 'queued', 'running'], items.map((e) => [e.endpoint, e.status, e.executor, e.last_seen ?? 'never', String(e.queued), String(e.running)])),
        );
      }),
    );

  endpoint
    .command('delete')
    .description('delete an endpoint on the hub (its agent stops)')
    .argument('<endpoint>', 'owner/name')
    .action(
      action(async (name: string, _options: object, command: Command) => {
        const document = await deleteEndpoint(connection(command), name);
        print(command, document, () => `deleted ${document.endpoint}`);
      }),
    );
}
