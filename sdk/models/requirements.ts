/**
 * Python requirements of a servable as the SDK gathers them: checked against the same PEP 508
 * pattern the hub's schema uses (a line pip would read as an option is refused here already), and
 * read from a `requirements.txt` next to the model, as DLHub users keep them.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PEP508_PATTERN } from '../../schemas/metadata.ts';

const PEP508 = new RegExp(PEP508_PATTERN);

export function checkRequirement(requirement: string, where = 'requirement'): string {
  const trimmed = requirement.trim();
  if (trimmed.startsWith('-') || !PEP508.test(trimmed)) {
    throw new TypeError(`${where}: "${trimmed}" is not a PEP 508 requirement such as "numpy>=1.24,<2" (pip options and URLs are not accepted)`);
  }
  return trimmed;
}

/** The requirements of a requirements.txt: comments and blank lines skipped, every line checked. */
export function parseRequirements(text: string, file = 'requirements.txt'): string[] {
  return text
    .split(/\r?\n/)
    .map((raw, index) => ({ line: raw.replace(/(^|\s)#.*$/, '').trim(), number: index + 1 }))
    .filter(({ line }) => line !== '')
    .map(({ line, number }) => checkRequirement(line, `${file} line ${number}`));
}

/** The requirements in `requirements.txt` beside `modelPath` (a file), if there is one. */
export function requirementsNextTo(modelPath: string): string[] | undefined {
  const file = path.join(path.dirname(path.resolve(modelPath)), 'requirements.txt');
  return existsSync(file) ? parseRequirements(readFileSync(file, 'utf8'), file) : undefined;
}
