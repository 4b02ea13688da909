/**
 * `modelhub webhook add|ls|rm|deliveries` and `modelhub usage NAME[@v]` (docs/webhooks.md,
 * docs/usage.md).
 */
import type { Command } from 'commander';
import { WEBHOOK_EVENTS, type WebhookEvent } from '../schemas/webhooks.ts';
import { commandKit } from './cli-commands.ts';
import { formatTable, type Output } from './cli-output.ts';
import { HubClient } from './hub-client.ts';
import { parseServableName } from './servable-name.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerWebhookCommands(program: Command, output: Output): void {
  const { globals, print, action } = commandKit(output);
  const clientOf = (command: Command) => {
    const { url, token } = globals(command);
    return new HubClient({ ...(url ? { url } : {}), ...(token ? { token } : {}) });
  };

  program
    .command('usage')
    .description('runs, errors, mean latency and distinct callers of your servable by version and day')
    .argument('<name>', 'owner/name or owner/name@version')
    .option('--days <n>', 'how many days back, today included', (value) => Number.parseInt(value, 10), 30)
    .action(
      action(async (name: string, options: { days: number }, command: Command) => {
        const ref = parseServableName(name);
        const report = await clientOf(command).usage(`${ref.owner}/${ref.name}`, { ...(ref.version === undefined ? {} : { version: ref.version }), days: options.days });
        const latency = (ms: number | null) => (ms === null ? '-' : ms.toFixed(1));
        print(command, report, () => [
          `${report.servable}${report.version === null ? '' : `@${report.version}`} since ${report.since}: ${report.totals.runs} runs, ${report.totals.errors} errors, ${report.totals.distinct_callers} distinct callers, mean ${latency(report.totals.mean_latency_ms)} ms`,
          formatTable(['DAY', 'VERSION', 'RUNS', 'ERRORS', 'CALLERS', 'ANONYMOUS', 'MEAN MS'], report.days.map((d) => [d.day, String(d.version), String(d.runs), String(d.errors), String(d.distinct_callers), String(d.anonymous_runs), latency(d.mean_latency_ms)])),
        ].join('\n'));
      }),
    );

  const webhook = program.command('webhook').description("webhooks: signed HTTP calls on your servables' events");
  webhook
    .command('add')
    .description('register a URL for events on your servables (prints the signing secret, shown only once)')
    .argument('<url>', 'http(s) URL the deliveries are POSTed to')
    .option('--owner <owner>', "whose servables (default: yours)")
    .option('--servable <name>', "only this servable of the owner's")
    .option('--event <event>', `an event to send (repeatable; default: all of ${WEBHOOK_EVENTS.join(', ')})`, collect)
    .option('--secret <secret>', 'the HMAC-SHA256 key (default: one the hub makes)')
    .option('--description <text>')
    .action(
      action(async (url: string, options: { owner?: string; servable?: string; event?: string[]; secret?: string; description?: string }, command: Command) => {
        const created = await clientOf(command).createWebhook({
          url,
          ...(options.owner ? { owner: options.owner } : {}),
          ...(options.servable ? { name: options.servable } : {}),
          ...(options.event ? { events: options.event as WebhookEvent[] } : {}),
          ...(options.secret ? { secret: options.secret } : {}),
          ...(options.description ? { description: options.description } : {}),
        });
        print(command, created, () => `webhook ${created.id} for ${created.owner}/${created.name ?? '*'} -> ${created.url}\nsecret (shown only now): ${created.secret}`);
      }),
    );
  webhook
    .command('ls')
    .description('your webhooks (or an owner\'s)')
    .option('--owner <owner>')
    .action(
      action(async (options: { owner?: string }, command: Command) => {
        const hooks = await clientOf(command).listWebhooks(options.owner ? { owner: options.owner } : {});
        print(command, { webhooks: hooks }, () => formatTable(['ID', 'SERVABLES', 'URL', 'STATE', 'EVENTS'], hooks.map((h) => [h.id, `${h.owner}/${h.name ?? '*'}`, h.url, h.state, h.events.join(',')])));
      }),
    );
  webhook
    .command('rm')
    .description('remove a webhook and its delivery log')
    .argument('<id>')
    .action(
      action(async (id: string, _options: unknown, command: Command) => {
        await clientOf(command).deleteWebhook(id);
        print(command, { id, deleted: true }, () => `removed webhook ${id}`);
      }),
    );
  webhook
    .command('deliveries')
    .description("a webhook's delivery log, newest first")
    .argument('<id>')
    .option('--limit <n>', 'how many', (value) => Number.parseInt(value, 10), 20)
    .action(
      action(async (id: string, options: { limit: number }, command: Command) => {
        const deliveries = await clientOf(command).webhookDeliveries(id, { limit: options.limit });
        print(command, { deliveries }, () => formatTable(['ID', 'EVENT', 'STATE', 'ATTEMPTS', 'STATUS', 'CREATED'], deliveries.map((d) => [d.id, d.event, d.state, String(d.attempts), d.last_status === null ? '-' : String(d.last_status), d.created_at])));
      }),
    );
}
