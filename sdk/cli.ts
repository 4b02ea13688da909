/**
 * The client side of `modelhub`: parses arguments and calls the SDK; nothing else lives here. It
 * talks to a hub over HTTP only. The commands that run a hub or open its data folder (serve,
 * reindex, gc, local tokens) are added by hub-server/cli.ts, the `modelhub` the user runs.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import type { PublishedMetadata } from '../schemas/metadata.ts';
import { SEARCH_SORTS, type SearchSort } from '../schemas/api.ts';
import { describeTask, formatTable, processOutput, renderPublish, type Output } from './cli-output.ts';
import { commandKit } from './cli-commands.ts';
import { registerDownloadCommand } from './download-command.ts';
import { registerScienceCommands } from './science-commands.ts';
import { registerCollectionCommands } from './collection-commands.ts';
import { registerFlowCommands } from './flows/flow-commands.ts';
import { registerDlhubImportCommand } from './dlhub-import-command.ts';
import { registerBatchCommand } from './batch-command.ts';
import { registerWebhookCommands } from './webhook-commands.ts';
import { HubClient } from './hub-client.ts';
import { METADATA_FILE, defaultMetadataPath, loadServable, metadataTemplate } from './models/from-path.ts';
import { CITATION_FORMATS, type CitationFormat } from './operations/cite-servable.ts';
import type { ServableListItem } from './operations/list-servables.ts';
import { SearchQueryBuilder } from './query-builder.ts';
import { splitRunRequest } from './request-document.ts';
import { parseGitSpec } from './operations/publish-from-git.ts';
import { readSavedLogin, refreshSavedLogin, resolveConnection, saveLogin, savedLoginPath } from './saved-login.ts';
import { deviceSignIn, refreshSignIn, whoami } from './operations/sign-in.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`"${value}" is not a positive whole number`);
  return n;
};

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TypeError(`${what} is not JSON: ${(error as Error).message}`);
  }
}

/**
 * BM25 scores from SQLite FTS5 are tiny on a small catalogue (1e-6), so fixed decimals showed 0.00
 * for every hit; three significant digits keep the ranking readable on any backend.
 */
export function formatScore(score: number): string {
  return Number.isFinite(score) ? String(Number(score.toPrecision(3))) : '';
}

function summarize(doc: PublishedMetadata): string {
  const run = doc.servable.methods.run;
  const lines = [
    `${doc.hub.owner}/${doc.hub.name}@${doc.hub.version}  ${doc.datacite.titles[0]?.title ?? ''}`,
    `type:        ${doc.servable.type}`,
    `identifier:  ${doc.hub.identifier}`,
    `authors:     ${doc.datacite.creators.map((c) => c.name).join('; ')}`,
  ];
  if (doc.hub.domains?.length) lines.push(`domains:     ${doc.hub.domains.join(', ')}`);
  if (doc.hub.publication_date) lines.push(`published:   ${doc.hub.publication_date}`);
  lines.push(`visibility:  ${doc.hub.visibility}`);
  lines.push(`input:       ${JSON.stringify(run.input)}`);
  lines.push(`output:      ${JSON.stringify(run.output)}`);
  const description = doc.datacite.descriptions?.[0]?.description;
  if (description) lines.push('', description);
  return lines.join('\n');
}

export function buildCli(output: Output = processOutput): Command {
  const program = new Command('modelhub')
    .description('Publish, find, cite and run scientific models on a modelhub')
    .option('--json', 'print machine-readable JSON')
    .option('--url <url>', 'the hub (default: $MODELHUB_URL, the saved login, http://127.0.0.1:8700)')
    .option('--token <token>', 'API token (default: $MODELHUB_TOKEN or the saved login)')
    .showHelpAfterError();

  const { globals, print, action } = commandKit(output);
  // A token from `modelhub login`'s device sign-in is renewed before any command that will send it.
  program.hook('preAction', async (_program, actionCommand) => {
    const { url, token } = globals(actionCommand);
    try {
      await refreshSavedLogin((hubUrl, refreshToken) => refreshSignIn({ hubUrl, refreshToken }), { ...(url ? { url } : {}), ...(token ? { token } : {}) });
    } catch (error) {
      output.err(`warning: the saved sign-in could not be renewed (${(error as Error).message}); run modelhub login again`);
    }
  });
  const client = (command: Command) => {
    const { url, token } = globals(command);
    return new HubClient({ ...(url ? { url } : {}), ...(token ? { token } : {}) });
  };

  program
    .command('init')
    .description(`write a ${METADATA_FILE} to fill in, from what the model file says`)
    .argument('[model-file]', 'the model file or folder (.onnx, .h5, model.json folder, .pkl, .pt, .py ...)')
    .option('--owner <owner>', 'your hub user name')
    .option('-o, --output <file>', `where to write (default: ${METADATA_FILE} beside the model)`)
    .option('--force', 'overwrite an existing file')
    .action(
      action(async (modelFile: string | undefined, options: { owner?: string; output?: string; force?: boolean }, command: Command) => {
        const template = await metadataTemplate(modelFile, options.owner ? { owner: options.owner } : {});
        const target = options.output ?? (modelFile ? defaultMetadataPath(modelFile) : METADATA_FILE);
        if (existsSync(target) && !options.force) throw new TypeError(`${target} exists; use --force to overwrite it`);
        await writeFile(target, `${JSON.stringify(template, null, 2)}\n`);
        print(command, { path: target, metadata: template }, () =>
          `wrote ${target}: fill in the TODO fields, then run: modelhub publish ${modelFile ?? '<model>'}`,
        );
      }),
    );

  program
    .command('publish')
    .description('upload a model with its metadata; the hub inspects it, mints an identifier and serves it')
    .argument('<path>', 'model file or folder, or git+URL@ref to publish a commit of a git repository')
    .option('--metadata <file>', `metadata document (default: ${METADATA_FILE} beside the model or inside the folder)`)
    .option('--name <owner/name>', 'servable name')
    .option('--title <title>', 'title')
    .option('--author <"Family, Given">', 'author, repeat for several', collect)
    .option('--domain <domain>', 'scientific domain, repeat for several', collect)
    .option('--description <text>', 'abstract')
    .option('--private', 'visible to its owner only')
    .option('--no-wait', 'return once the upload is accepted, without following the build')
    .option('--verbose', "print the build's log lines too")
    .action(
      action(
        async (
          modelPath: string,
          options: { metadata?: string; name?: string; title?: string; author?: string[]; domain?: string[]; description?: string; private?: boolean; wait: boolean; verbose?: boolean },
          command: Command,
        ) => {
          // git+URL@ref: the hub fetches that commit (metadata from --metadata or its modelhub.json).
          const gitSource = parseGitSpec(modelPath);
          const describe = async () => {
            const model = await loadServable(modelPath, options.metadata ? { metadataPath: options.metadata } : {});
            if (options.name) model.setName(options.name);
            if (options.title) model.setTitle(options.title);
            if (options.author) model.setAuthors(options.author);
            if (options.domain) model.setDomains(options.domain);
            if (options.description) model.setDescription(options.description);
            if (options.private) model.setVisibility('private');
            return model;
          };
          const json = Boolean(globals(command).json);
          const { task, accepted } = await renderPublish(
            gitSource
              ? client(command).publishFromGitProgress(gitSource.git, gitSource.ref, {
                  wait: options.wait,
                  ...(options.metadata ? { metadata: JSON.parse(await readFile(options.metadata, 'utf8')) as Record<string, unknown> } : {}),
                })
              : client(command).publishServableProgress(await describe(), { wait: options.wait }),
            output,
            { quiet: json, verbose: Boolean(options.verbose) },
          );
          if (!options.wait || !task) {
            print(command, accepted, () => `follow it with: modelhub status ${accepted?.task_id}`);
            return;
          }
          if (task.status === 'FAILED') {
            if (json) output.out(JSON.stringify(task, null, 2));
            else output.err(`error ${task.error?.code ?? 'MODELHUB_INTERNAL'}: ${task.error?.message ?? 'the publish failed'}`);
            process.exitCode = 1;
            return;
          }
          print(command, task, () => `published ${task.servable}@${task.version}`);
        },
      ),
    );

  program
    .command('run')
    .description('run a servable on inputs given as JSON')
    .argument('<name>', 'owner/name or owner/name@version')
    .argument('[inputs-json]', 'the inputs, as JSON')
    .option('--input-file <file>', 'read the inputs from a JSON file (the inputs, or a request {"inputs", "parameters"})')
    .option('--version <n>', 'version to run (default: latest)', positiveInt)
    .option('--parameters <json>', 'run parameters, as a JSON object')
    .option('--method <method>', 'method other than run')
    .option('--async', 'return a task id instead of waiting')
    .option('--on <endpoint>', 'run on this compute endpoint (owner/name) instead of the hub')
    .action(
      action(
        async (
          name: string,
          inputsJson: string | undefined,
          options: { inputFile?: string; version?: number; parameters?: string; method?: string; async?: boolean; on?: string },
          command: Command,
        ) => {
          if ((inputsJson === undefined) === (options.inputFile === undefined)) {
            throw new TypeError('give the inputs either as JSON or with --input-file, not both or neither');
          }
          // A file may hold a whole request ({"inputs", "parameters"}), as the demo request files do.
          const fromFile = options.inputFile
            ? splitRunRequest(parseJson(await readFile(options.inputFile, 'utf8'), options.inputFile))
            : undefined;
          const inputs = fromFile ? fromFile.inputs : parseJson(inputsJson!, 'the inputs');
          const flagParameters = options.parameters
            ? (parseJson(options.parameters, '--parameters') as Record<string, unknown>)
            : undefined;
          const parameters =
            fromFile?.parameters || flagParameters ? { ...fromFile?.parameters, ...flagParameters } : undefined;
          const opts = {
            ...(options.version ? { version: options.version } : {}),
            ...(parameters ? { parameters } : {}),
            ...(options.method ? { method: options.method } : {}),
            ...(options.on ? { endpoint: options.on } : {}),
          };
          const hub = client(command);
          if (options.async) {
            const accepted = await hub.run(name, inputs, { ...opts, asynchronous: true });
            print(command, accepted, () => `task ${accepted.task_id}: follow it with modelhub status ${accepted.task_id}`);
            return;
          }
          const reply = await hub.run(name, inputs, opts);
          print(command, reply, () => JSON.stringify(reply.output));
          if (!globals(command).json) {
            output.err(`${reply.servable}@${reply.version}  ${reply.timing.total_ms.toFixed(1)} ms${reply.cached ? ' (cached)' : ''}`);
          }
        },
      ),
    );

  program
    .command('status')
    .description('the state of a publish or asynchronous run')
    .argument('<task-id>')
    .option('--wait', 'wait until it finishes')
    .action(
      action(async (taskId: string, options: { wait?: boolean }, command: Command) => {
        const hub = client(command);
        const task = options.wait ? await hub.waitForTask(taskId) : await hub.getTaskStatus(taskId);
        print(command, task, () => describeTask(task));
        if (task.status === 'FAILED') process.exitCode = 1;
      }),
    );

  program
    .command('describe')
    .description('the metadata of a servable')
    .argument('<name>', 'owner/name or owner/name@version')
    .action(
      action(async (name: string, _options: unknown, command: Command) => {
        const doc = await client(command).describeServable(name);
        print(command, doc, () => summarize(doc));
      }),
    );

  program
    .command('versions')
    .description('the versions of a servable, newest first')
    .argument('<name>', 'owner/name')
    .action(
      action(async (name: string, _options: unknown, command: Command) => {
        const versions = await client(command).listVersions(name);
        print(command, versions, () =>
          formatTable(
            ['VERSION', 'STATE', 'IDENTIFIER', 'PUBLISHED'],
            versions.map((v) => [String(v.version), v.state ?? '', v.identifier ?? '', v.published_at ?? '']),
          ),
        );
      }),
    );

  program
    .command('ls')
    .description('servables you can see, newest first')
    .option('--owner <owner>', 'only this owner')
    .option('--limit <n>', 'at most this many', positiveInt)
    .action(
      action(async (options: { owner?: string; limit?: number }, command: Command) => {
        const items: ServableListItem[] = [];
        for await (const item of client(command).listServables(options)) items.push(item);
        print(command, items, () =>
          items.length === 0
            ? 'no servables'
            : formatTable(
                ['SERVABLE', 'VERSION', 'TYPE', 'VISIBILITY', 'TITLE'],
                items.map((i) => [i.servable, String(i.latest_version), i.type, i.visibility, i.title]),
              ),
        );
      }),
    );

  program
    .command('search')
    .description('find servables by text, domain, author, owner, type or DOI')
    .argument('[text...]', 'free text')
    .option('--domain <domain>', 'scientific domain, repeat for several', collect)
    .option('--author <author>', 'author, repeat for several', collect)
    .option('--owner <owner>', 'owner')
    .option('--type <type>', 'servable type (onnx, keras, tfjs, python ...)')
    .option('--doi <doi>', 'a related DOI or the identifier')
    .option('--all-versions', 'every version, not only the latest')
    .option('--limit <n>', 'at most this many hits', positiveInt)
    .option('--offset <n>', 'skip this many hits', (v) => Number(v))
    .addOption(new Option('--sort <order>', 'order of the hits, applied across pages (default: relevance)').choices(SEARCH_SORTS))
    .action(
      action(
        async (
          text: string[],
          options: {
            domain?: string[]; author?: string[]; owner?: string; type?: string; doi?: string; allVersions?: boolean; limit?: number; offset?: number;
            sort?: SearchSort;
          },
          command: Command,
        ) => {
          const query = new SearchQueryBuilder().text(text.join(' '));
          if (options.domain) query.matchDomains(options.domain);
          if (options.author) query.matchAuthors(options.author);
          if (options.owner) query.matchOwner(options.owner);
          if (options.type) query.matchType(options.type);
          if (options.doi) query.matchDoi(options.doi);
          if (options.allVersions) query.latestOnly(false);
          if (options.limit !== undefined) query.limit(options.limit);
          if (options.offset !== undefined) query.offset(options.offset);
          if (options.sort) query.sortBy(options.sort);
          const reply = await client(command).search(query);
          print(command, reply, () =>
            reply.hits.length === 0
              ? 'no matches'
              : `${formatTable(
                  ['SERVABLE', 'VERSION', 'TYPE', 'SCORE', 'TITLE'],
                  reply.hits.map((h) => [h.servable, String(h.version), h.type, formatScore(h.score), h.title]),
                )}\n${reply.hits.length} of ${reply.total}`,
          );
        },
      ),
    );

  program
    .command('cite')
    .description('how to cite a servable')
    .argument('<name>', 'owner/name or owner/name@version')
    .addOption(new Option('--format <format>', 'citation format').choices(CITATION_FORMATS).default('bibtex'))
    .action(
      action(async (name: string, options: { format: CitationFormat }, command: Command) => {
        const text = await client(command).cite(name, options.format);
        print(command, { servable: name, format: options.format, citation: text }, () => text.trimEnd());
      }),
    );

  program
    .command('withdraw')
    .description('withdraw a servable (or one version); its identifier resolves to a tombstone')
    .argument('<name>', 'owner/name or owner/name@version')
    .option('--reason <reason>', 'why, shown on the tombstone')
    .action(
      action(async (name: string, options: { reason?: string }, command: Command) => {
        const reply = await client(command).withdraw(name, options.reason ? { reason: options.reason } : {});
        print(command, reply, () => `withdrew ${name}`);
      }),
    );

  program
    .command('resolve')
    .description('what an identifier names')
    .argument('<identifier>')
    .action(
      action(async (identifier: string, _options: unknown, command: Command) => {
        const resolved = await client(command).resolveIdentifier(identifier);
        print(command, resolved, () => JSON.stringify(resolved, null, 2));
      }),
    );

  program
    .command('login')
    .description(`save the hub URL and a token (in ${savedLoginPath()}); where the hub offers OpenID Connect and no --token is given, sign in with a code shown here and approved in a browser`)
    .option('--no-device', 'only save the URL (and --token), never start a device sign-in')
    .action(
      action(async (options: { device: boolean }, command: Command) => {
        const { url, token } = globals(command);
        const hubUrl = resolveConnection({ ...(url ? { url } : {}) }).url;
        // A hub that offers sign-in gets the device authorization grant; one that does not (or is
        // not running yet) keeps the plain "save URL and token" of earlier versions.
        if (!token && options.device && (await whoami({ hubUrl }).then((me) => me.sign_in.oidc, () => false))) {
          for await (const event of deviceSignIn({ hubUrl })) {
            if (event.type === 'code') {
              const { code } = event;
              output.err(`To sign in, open ${code.verification_uri_complete ?? code.verification_uri} in a browser${code.verification_uri_complete ? '' : ` and enter the code ${code.user_code}`} (code ${code.user_code}; waiting up to ${Math.round(code.expires_in / 60)} minutes)`);
              continue;
            }
            const { tokens } = event;
            const file = saveLogin({
              url: hubUrl,
              token: tokens.access_token,
              ...(tokens.refresh_token ? { refresh_token: tokens.refresh_token } : {}),
              ...(tokens.expires_in === undefined ? {} : { expires_at: new Date(Date.now() + tokens.expires_in * 1000).toISOString() }),
            });
            print(command, { path: file, url: hubUrl, token: true, user: tokens.user ?? null, refreshable: Boolean(tokens.refresh_token) }, () =>
              `signed in to ${hubUrl} as ${tokens.user ?? 'you'}; saved to ${file}`,
            );
          }
          return;
        }
        const saved = readSavedLogin();
        const login = {
          url: resolveConnection({ ...(url ? { url } : {}) }).url,
          ...(token ? { token } : saved.token && (!url || url === saved.url) ? { token: saved.token } : {}),
        };
        const file = saveLogin(login);
        print(command, { path: file, url: login.url, token: Boolean(login.token) }, () =>
          `saved ${login.url}${login.token ? ' with a token' : ''} to ${file}`,
        );
      }),
    );

  registerFlowCommands(program, output);
  registerDownloadCommand(program, output);
  registerScienceCommands(program, output);
  registerCollectionCommands(program, output);
  registerDlhubImportCommand(program, output);
  registerBatchCommand(program, output);
  registerWebhookCommands(program, output);
  return program;
}
