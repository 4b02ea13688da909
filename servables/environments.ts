/**
 * Declared environments of Python servables: what they need (`servable.environment`, or the
 * requirement files among their files, found as repo2docker finds them), checked strictly because
 * each requirement ends up as an argument of pip (and each Debian package of apt-get), and a
 * content hash that names one environment, shared by every servable that declares the same.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { HubError } from '../schemas/errors.ts';
import { DEBIAN_PACKAGE_PATTERN, PEP508_PATTERN, type ServableEnvironment } from '../schemas/metadata.ts';
import type { LocalFile } from '../schemas/ports/servable.ts';

const PEP508 = new RegExp(PEP508_PATTERN);
const DEBIAN_PACKAGE = new RegExp(DEBIAN_PACKAGE_PATTERN);

/** The files repo2docker reads, in the order it prefers them; `apt.txt` lists Debian packages. */
export const REQUIREMENT_FILES = ['requirements.txt', 'pyproject.toml', 'environment.yml', 'environment.yaml'] as const;
export const APT_FILE = 'apt.txt';

/** A requirement line, checked; a line that pip would read as an option is refused by name. */
export function checkRequirement(line: string, where: string): string {
  const requirement = line.trim();
  if (requirement.startsWith('-')) {
    throw new HubError('INVALID_METADATA', `${where}: "${requirement}" is a pip option; list requirements only (PEP 508: name, extras, versions, markers)`, {
      details: { requirement, where },
    });
  }
  if (!PEP508.test(requirement)) {
    throw new HubError('INVALID_METADATA', `${where}: "${requirement}" is not a PEP 508 requirement such as "numpy>=1.24,<2" (URLs and options are not accepted)`, {
      details: { requirement, where },
    });
  }
  return requirement;
}

export function checkDebianPackage(name: string, where: string): string {
  const trimmed = name.trim();
  if (!DEBIAN_PACKAGE.test(trimmed)) {
    throw new HubError('INVALID_METADATA', `${where}: "${trimmed}" is not a Debian package name (lower-case letters, digits, + - ., starting with a letter or digit)`, {
      details: { package: trimmed, where },
    });
  }
  return trimmed;
}

/** Lines without comments and blanks. */
function meaningfulLines(text: string): { line: string; number: number }[] {
  return text
    .split(/\r?\n/)
    .map((raw, index) => ({ line: raw.replace(/(^|\s)#.*$/, '').trim(), number: index + 1 }))
    .filter(({ line }) => line !== '');
}

export function parseRequirementsTxt(text: string, file = 'requirements.txt'): string[] {
  return meaningfulLines(text).map(({ line, number }) => checkRequirement(line, `${file} line ${number}`));
}

/** `[project] dependencies = [...]` of a pyproject.toml (the only part of it the hub reads). */
export function parsePyprojectDependencies(text: string): string[] {
  const project = /^\[project\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(text)?.[1];
  const list = project && /^dependencies\s*=\s*\[([\s\S]*?)\]/m.exec(project)?.[1];
  if (!list) return [];
  return [...list.matchAll(/"([^"]*)"|'([^']*)'/g)].map((match) => checkRequirement(match[1] ?? match[2] ?? '', 'pyproject.toml [project] dependencies'));
}

/**
 * The dependencies of a conda environment.yml: its `pip:` list as is; conda packages become pip
 * requirements of the same name (`name=1.2` means 1.2.*), except python and pip themselves. The
 * hub has no conda: a package whose pip name differs fails the build, naming it.
 */
export function parseEnvironmentYml(text: string, file = 'environment.yml'): { python: string[]; warnings: string[] } {
  const python: string[] = [];
  const warnings: string[] = [];
  const lines = text.split(/\r?\n/).map((line) => line.replace(/(^|\s)#.*$/, ''));
  const start = lines.findIndex((line) => /^dependencies\s*:\s*$/.test(line));
  if (start < 0) return { python, warnings };
  let inPip = false;
  let pipIndent = 0;
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') continue;
    const indent = line.length - line.trimStart().length;
    if (indent === 0) break;
    const item = /^\s*-\s*(.+?)\s*$/.exec(line)?.[1];
    if (item === undefined) continue;
    if (inPip && indent > pipIndent) {
      python.push(checkRequirement(item.replace(/^["']|["']$/g, ''), `${file} pip:`));
      continue;
    }
    inPip = false;
    if (/^pip\s*:$/.test(item)) {
      inPip = true;
      pipIndent = indent;
      continue;
    }
    const conda = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:(==?|>=|<=|>|<|!=)\s*([A-Za-z0-9.*+!_-]+))?$/.exec(item.replace(/^["']|["']$/g, ''));
    if (!conda) throw new HubError('INVALID_METADATA', `${file}: "${item}" is not a package the hub can install`, { details: { requirement: item, where: file } });
    const [, name = '', operator, version] = conda;
    if (name === 'python' || name === 'pip') continue;
    const requirement = operator === '=' ? `${name}==${version!.endsWith('*') ? version : `${version}.*`}` : `${name}${operator ? `${operator}${version}` : ''}`;
    warnings.push(`${file}: conda package "${item}" is installed with pip as "${requirement}" (the hub has no conda)`);
    python.push(checkRequirement(requirement, file));
  }
  return { python, warnings };
}

export function parseAptTxt(text: string): string[] {
  return meaningfulLines(text).map(({ line, number }) => checkDebianPackage(line, `apt.txt line ${number}`));
}

/** Every requirement checked again (a document may come from anywhere), sorted and without repeats. */
export function normalizeEnvironment(environment: ServableEnvironment | undefined): ServableEnvironment | undefined {
  if (!environment) return undefined;
  const python = [...new Set((environment.python ?? []).map((r) => checkRequirement(r, 'servable.environment.python')))].sort();
  const debian = [...new Set((environment.debian ?? []).map((p) => checkDebianPackage(p, 'servable.environment.debian')))].sort();
  if (python.length === 0 && debian.length === 0) return undefined;
  return { ...(python.length > 0 ? { python } : {}), ...(debian.length > 0 ? { debian } : {}) };
}

/**
 * The servable's environment: the declared one, or else what requirement files at the top of its
 * files say (requirements.txt first, as repo2docker prefers it), plus apt.txt's packages.
 */
export async function resolveEnvironment(
  declared: ServableEnvironment | undefined,
  files: readonly LocalFile[],
): Promise<{ environment?: ServableEnvironment; source: string; warnings: string[] }> {
  if (declared && ((declared.python?.length ?? 0) > 0 || (declared.debian?.length ?? 0) > 0)) {
    return { environment: normalizeEnvironment(declared), source: 'servable.environment', warnings: [] };
  }
  const top = new Map(files.filter((file) => !file.path.includes('/')).map((file) => [file.path, file.localPath]));
  const read = (name: string) => fs.readFile(top.get(name)!, 'utf8');
  const warnings: string[] = [];
  let python: string[] = [];
  let source = '';
  for (const name of REQUIREMENT_FILES) {
    if (!top.has(name)) continue;
    if (name === 'requirements.txt') python = parseRequirementsTxt(await read(name));
    else if (name === 'pyproject.toml') python = parsePyprojectDependencies(await read(name));
    else {
      const parsed = parseEnvironmentYml(await read(name), name);
      python = parsed.python;
      warnings.push(...parsed.warnings);
    }
    source = name;
    break;
  }
  const debian = top.has(APT_FILE) ? parseAptTxt(await read(APT_FILE)) : [];
  if (debian.length > 0) source = source ? `${source} and ${APT_FILE}` : APT_FILE;
  return { environment: normalizeEnvironment({ python, debian }), source, warnings };
}

/** The name of an environment: the same requirements on the same interpreter give the same hash. */
export function environmentHash(environment: ServableEnvironment, interpreter: string): string {
  const canonical = JSON.stringify({ interpreter: path.resolve(interpreter), python: environment.python ?? [], debian: environment.debian ?? [] });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}
