/**
 * `modelhub collection create|show|search|cite` (docs/collections.md): thin over the SDK.
 */
import type { Command } from 'commander';
import type { CollectionView } from '../schemas/collections.ts';
import type { Output } from './cli-output.ts';
import { commandKit } from './cli-commands.ts';
import { HubClient } from './hub-client.ts';
import { CITATION_FORMATS, type CitationFormat } from './operations/cite-servable.ts';

const collect = (value: string, previous: string[]) => [...previous, value];

/** `owner/name@version` → a member; anything else is the user's error, said before any request. */
function member(text: string): { servable: string; version: number } {
  const match = /^([^@\s]+)@([1-9]\d*)$/.exec(text);
  if (!match) throw new TypeError(`--member takes owner/name@version, got "${text}"`);
  return { servable: match[1]!, version: Number(match[2]) };
}

const summary = (c: CollectionView) =>
  [`${c.owner}/${c.name}  ${c.title}`, `identifier:  ${c.identifier} (${c.identifier_state})`, `landing:     ${c.landing_url}`, ...c.members.map((m) => `  ${m.servable}@${m.version}  ${m.identifier}`)].join('\n');

export function registerCollectionCommands(program: Command, output: Output): void {
  const { globals, print, action } = commandKit(output);
  const clientOf = (command: Command) => {
    const { url, token } = globals(command);
    return new HubClient({ ...(url ? { url } : {}), ...(token ? { token } : {}) });
  };
  const collection = program.command('collection').description('citable collections of servable versions (the models of a paper)');
  collection
    .command('create')
    .description('create a collection with its own identifier')
    .argument('<name>', 'owner/name')
    .requiredOption('--title <title>', 'the title')
    .option('--description <text>', 'what the collection is')
    .option('--creator <name>', 'a creator ("Family, Given" or an organisation); repeat for more', collect, [])
    .option('--member <owner/name@version>', 'a servable version; repeat for more', collect, [])
    .option('--private', 'only you (and admins) see it; its DOI stays a draft')
    .action(
      action(async (name: string, options: { title: string; description?: string; creator: string[]; member: string[]; private?: boolean }, command: Command) => {
        const created = await clientOf(command).createCollection(name, {
          title: options.title,
          ...(options.description ? { description: options.description } : {}),
          creators: options.creator.map((creator) => ({ name: creator })),
          members: options.member.map(member),
          ...(options.private ? { visibility: 'private' as const } : {}),
        });
        print(command, created, () => summary(created));
      }),
    );
  collection
    .command('show')
    .argument('<name>', 'owner/name')
    .action(
      action(async (name: string, _options: unknown, command: Command) => {
        const found = await clientOf(command).collection(name);
        print(command, found, () => summary(found));
      }),
    );
  collection
    .command('search')
    .argument('[words...]', 'words that must all appear')
    .option('--containing <owner/name[@version]>', 'collections with this member')
    .action(
      action(async (words: string[], options: { containing?: string }, command: Command) => {
        const found = await clientOf(command).searchCollections({ ...(words.length ? { q: words.join(' ') } : {}), ...(options.containing ? { containing: options.containing } : {}) });
        print(command, found, () => [`${found.total} collection${found.total === 1 ? '' : 's'}`, ...found.collections.map((c) => `${c.owner}/${c.name}  ${c.title}  ${c.identifier}`)].join('\n'));
      }),
    );
  collection
    .command('cite')
    .argument('<name>', 'owner/name')
    .option('--format <format>', CITATION_FORMATS.join(', '), 'bibtex')
    .action(
      action(async (name: string, options: { format: CitationFormat }, command: Command) => {
        output.out((await clientOf(command).citeCollection(name, options.format)).trimEnd());
      }),
    );
}
