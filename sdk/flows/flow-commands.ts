/**
 * `modelhub flow run` and `modelhub flow validate`: argument parsing and printing only; the work
 * is in run-flow.ts and validate-flow.ts.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { processOutput, type Output } from '../cli-output.ts';
import { resolveConnection } from '../saved-login.ts';
import { whoami } from '../operations/sign-in.ts';
import type { FlowDefinition, FlowRunContext } from './flow-definition.ts';
import { runFlow, type FlowEvent } from './run-flow.ts';
import { FlowDefinitionError, formatProblem, validateFlow } from './validate-flow.ts';

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the ${what} ${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`the ${what} ${file} is not JSON: ${(error as Error).message}`);
  }
}

/**
 * An explicit --token goes to every provider. A token from MODELHUB_TOKEN or the saved login goes
 * only to providers on that hub: a flow may name anyone's URL.
 */
function tokenFor(explicit: string | undefined): string | ((actionUrl: string) => string | undefined) | undefined {
  if (explicit) return explicit;
  const { url, token } = resolveConnection();
  if (!token) return undefined;
  return (actionUrl) => (actionUrl === url || actionUrl.startsWith(`${url}/`) ? token : undefined);
}

/**
 * `$._context`'s user fields, as the hub this CLI is signed in to knows the caller (`whoami`):
 * `username`, `user_id` (their Globus identity where they have one, else the hub's URN) and
 * `identities`. Nothing without a hub token, or when the hub does not answer in 5 s.
 */
async function callerContext(url: string | undefined): Promise<Partial<FlowRunContext>> {
  const connection = resolveConnection({ url });
  if (!connection.token) return {};
  try {
    const me = await whoami({ hubUrl: connection.url, accessToken: connection.token, signal: AbortSignal.timeout(5000) });
    if (!me.user) return {};
    const hubUrn = me.user.startsWith('urn:') ? me.user : `urn:modelhub:user:${me.user}`;
    const globus = me.identities.find((identity) => identity.startsWith('urn:globus:auth:identity:'));
    return { username: me.user, user_id: globus ?? hubUrn, identities: me.identities };
  } catch {
    return {};
  }
}

export function formatFlowEvent(event: FlowEvent): string {
  switch (event.kind) {
    case 'state_entered':
      return `▶ ${event.state} (${event.type})`;
    case 'action_started':
      return `  action ${event.action_id} at ${event.action_url}: ${event.status}${event.display_status ? ` (${event.display_status})` : ''}`;
    case 'action_polled':
      return `  … ${event.status}${event.display_status ? ` (${event.display_status})` : ''}, next poll in ${event.next_poll_ms} ms`;
    case 'action_completed':
      return `  ${event.status === 'SUCCEEDED' ? '✓' : '✗'} ${event.status}: ${JSON.stringify(event.details).slice(0, 200)}`;
    case 'choice_made':
      return `  → ${event.next}`;
    case 'waiting':
      return `  waiting ${event.seconds} s`;
    case 'exception_caught':
      return `  ! ${event.error} caught (${event.cause}) → ${event.next}`;
    case 'flow_succeeded':
      // One line: a flow's state carries its whole input (a 784-pixel image is 800 lines indented).
      return `✓ flow succeeded\n${JSON.stringify(event.output)}`;
    case 'flow_failed':
      return `✗ flow failed in ${event.state}: ${event.error}${event.cause ? `: ${event.cause}` : ''}`;
  }
}

export function registerFlowCommands(program: Command, output: Output = processOutput): Command {
  const flow = program.command('flow').description('Run and check Globus-Flows-style flows against Action Providers');

  flow
    .command('run')
    .description('Run a flow definition here, step by step, against its Action Providers')
    .argument('<definition>', 'flow definition (JSON)')
    .option('-i, --input <file>', 'the flow input (JSON file)')
    .option('--input-json <json>', 'the flow input as a JSON string')
    .option('--token <token>', 'bearer token for every provider (default: the hub token, for the hub only)')
    .option('--poll-max <ms>', 'longest wait between status polls', '10000')
    .option('--json', 'print each event as a JSON line')
    .action(async (file: string, _opts: unknown, command: Command) => {
      // With the global options: `modelhub --json flow run` and `modelhub flow run --json` (which
      // the program's own --json and --token would otherwise take) both count.
      const opts = command.optsWithGlobals<{ input?: string; inputJson?: string; token?: string; pollMax: string; json?: boolean; url?: string }>();
      const definition = readJson(file, 'flow definition') as FlowDefinition;
      const input = opts.inputJson !== undefined ? JSON.parse(opts.inputJson) : opts.input ? readJson(opts.input, 'input') : {};
      try {
        const context = await callerContext(opts.url);
        const events = runFlow(definition, input, { token: tokenFor(opts.token), pollMaxMs: Number(opts.pollMax), context });
        for await (const event of events) {
          output.out(opts.json ? JSON.stringify(event) : formatFlowEvent(event));
          if (event.kind === 'flow_failed') process.exitCode = 1;
        }
      } catch (error) {
        if (error instanceof FlowDefinitionError) {
          output.err(error.message);
          process.exitCode = 2;
          return;
        }
        throw error;
      }
    });

  flow
    .command('validate')
    .description("Check a flow definition and, unless --offline, its providers' input schemas")
    .argument('<definition>', 'flow definition (JSON)')
    .option('--offline', 'do not introspect the providers')
    .option('--token <token>', 'bearer token for every provider (default: the hub token, for the hub only)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ offline?: boolean; token?: string; json?: boolean }>();
      const definition = readJson(file, 'flow definition');
      const result = await validateFlow(definition, opts.offline ? {} : { fetch: globalThis.fetch, token: tokenFor(opts.token) });
      if (opts.json) output.out(JSON.stringify(result, null, 2));
      else {
        for (const problem of result.errors) output.err(formatProblem(problem));
        for (const problem of result.warnings) output.err(`warning ${formatProblem(problem).slice(2)}`);
        output.out(result.valid ? `✓ ${file} is a valid flow` : `✗ ${file} has ${result.errors.length} problem(s)`);
      }
      if (!result.valid) process.exitCode = 1;
    });
  return flow;
}
