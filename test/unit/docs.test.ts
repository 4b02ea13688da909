/**
 * The README and docs/*.md stay usable as written: every ```json block parses, and every relative
 * link (with its #anchor, when it names one) points at a file and a heading that exist. The blocks a
 * newcomer runs are run by test/e2e/readme-walkthrough.test.ts.
 *
 * Convention for ```json blocks: a block is one JSON document, with no comments and no `...`
 * elisions; a block that starts with `"` is the members of an object (a fragment such as
 * `"hub": {…}` shown as it sits in the metadata document) and is parsed inside `{ }`. Anything else
 * (a sketch with elisions, a shape with comments) is a ```text block.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/test-hub.ts';

const PAGES = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (page: string) => readFileSync(path.join(ROOT, page), 'utf8');

/** The page's fenced blocks with their language, and its text outside them. */
function split(text: string): { blocks: { lang: string; body: string }[]; prose: string } {
  const blocks: { lang: string; body: string }[] = [];
  const prose: string[] = [];
  let open: { lang: string; lines: string[] } | undefined;
  for (const line of text.split('\n')) {
    const fence = /^\s*```(\S*)\s*$/.exec(line);
    if (fence && !open) open = { lang: fence[1]!, lines: [] };
    else if (fence && open) {
      blocks.push({ lang: open.lang, body: open.lines.join('\n') });
      open = undefined;
    } else if (open) open.lines.push(line.trim() === '' ? '' : line);
    else prose.push(line);
  }
  return { blocks, prose: prose.join('\n') };
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

function anchors(page: string): Set<string> {
  return new Set(
    split(read(page))
      .prose.split('\n')
      .filter((line) => /^#{1,6}\s/.test(line))
      .map((line) => slug(line.replace(/^#+\s/, ''))),
  );
}

describe('the README and docs/ pages', () => {
  it.each(PAGES)('%s: every ```json block parses', (page) => {
    for (const { body } of split(read(page)).blocks.filter((b) => b.lang === 'json')) {
      const text = body.trimStart().startsWith('"') ? `{${body}}` : body;
      expect(() => JSON.parse(text), `${page}:\n${body}`).not.toThrow();
    }
  });

  it.each(PAGES)('%s: every relative link points at a file (and heading) that exists', (page) => {
    const broken: string[] = [];
    for (const [, target] of split(read(page)).prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target!)) continue; // https:, mailto:
      const [file, anchor] = target!.split('#');
      const resolved = file ? path.posix.normalize(path.posix.join(path.posix.dirname(page), file)) : page;
      if (!existsSync(path.join(ROOT, resolved))) broken.push(`${target} (no ${resolved})`);
      else if (anchor && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) broken.push(`${target} (no heading #${anchor} in ${resolved})`);
    }
    expect(broken, page).toEqual([]);
  });
});
