/**
 * Declared Python environments in `process` mode: one virtual environment per environment hash
 * under `<data>/environments/<hash>`, made with `python3 -m venv --system-site-packages` (so the
 * hub's Debian packages stay visible) and filled by pip. Built once: concurrent publishes of the
 * same environment wait for one build (an in-process map; one hub owns a data folder), and a venv
 * is built under a temporary name and renamed into place only when pip succeeded, so a folder
 * named by a hash is always complete. Package sources come from MODELHUB_PIP_INDEX_URL and
 * MODELHUB_PIP_FIND_LINKS (a wheelhouse; with find-links alone pip is told `--no-index`).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { HubError } from '../schemas/errors.ts';
import type { ServableEnvironment } from '../schemas/metadata.ts';
import { environmentHash } from './environments.ts';

export interface ProcessEnvironmentOptions {
  /** `<data>/environments` */
  root: string;
  /** The interpreter the venvs are made from (MODELHUB_PYTHON). */
  python: string;
  indexUrl?: string;
  findLinks?: string[];
  /** Limit for one build (venv and pip together). Default 30 minutes. */
  timeoutMs?: number;
  /**
   * Debian packages go into container images (MODELHUB_CONTAINERS=docker): the venv built here,
   * for inspection, skips them instead of refusing the servable.
   */
  debianInImages?: boolean;
}

export interface BuiltEnvironment {
  hash: string;
  /** `<root>/<hash>/bin/python` */
  interpreter: string;
  /** Whether this call built it (false: it existed, or another publish built it). */
  built: boolean;
}

/** Written last into a finished venv: what it holds, for people looking at the folder. */
const MARKER = 'modelhub-environment.json';
const PIP_TAIL_LINES = 40;

interface CommandResult {
  code: number | null;
  lines: string[];
}

/** Run a command, handing each output line (stdout and stderr) to `onLine`; kill it past `timeoutMs`. */
function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, onLine: (line: string) => void): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const take = (stream: NodeJS.ReadableStream) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const parts = (rest + chunk).split(/\r?\n/);
        rest = parts.pop() ?? '';
        for (const line of parts) {
          if (line.trim() === '') continue;
          lines.push(line);
          onLine(line);
        }
      });
      stream.on('end', () => {
        if (rest.trim() !== '') {
          lines.push(rest);
          onLine(rest);
        }
      });
    };
    take(child.stdout);
    take(child.stderr);
    const timer = setTimeout(() => {
      lines.push(`killed after ${timeoutMs} ms`);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, lines: [...lines, `${command} could not start: ${error.message}`] });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, lines });
    });
  });
}

/** pip's own words for why it failed (its ERROR lines), and the requirement they name. */
export function pipFailure(lines: readonly string[], requirements: readonly string[]): { package?: string; message: string } {
  const errors = lines.filter((line) => /^\s*ERROR:/.test(line)).map((line) => line.trim());
  const message = (errors.length > 0 ? errors : lines.slice(-5)).join(' ');
  const named = /(?:for|requirement|distribution found for)\s+([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(errors.join('\n'))?.[1];
  const normalize = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');
  const match = named === undefined ? undefined : requirements.find((r) => normalize(/^[A-Za-z0-9._-]+/.exec(r)?.[0] ?? '') === normalize(named));
  return { package: match ?? named, message };
}

export class ProcessEnvironments {
  private readonly building = new Map<string, Promise<BuiltEnvironment>>();
  private swept: Promise<void> | undefined;

  constructor(private readonly options: ProcessEnvironmentOptions) {}

  /** Where the environment of this hash lives (built or not). */
  interpreterFor(hash: string): string {
    return path.join(this.options.root, hash, 'bin', 'python');
  }

  /**
   * The venv of `environment`, built if it is not there yet. Resolves to undefined when there is
   * nothing to install (the hub's own interpreter serves). Debian packages are refused: the hub
   * never runs apt-get on its host.
   */
  async ensure(environment: ServableEnvironment | undefined, log: (line: string) => void = () => undefined): Promise<BuiltEnvironment | undefined> {
    if (environment?.debian && environment.debian.length > 0 && this.options.debianInImages) {
      log(`Debian packages (${environment.debian.join(', ')}) are installed in the servable's image only; inspection runs without them`);
    } else if (environment?.debian && environment.debian.length > 0) {
      throw new HubError(
        'BUILD_FAILED',
        `Debian packages (${environment.debian.join(', ')}) need a container build (MODELHUB_CONTAINERS=docker): the hub does not apt-get install on its host in process mode`,
        { details: { debian: environment.debian } },
      );
    }
    const requirements = environment?.python ?? [];
    if (requirements.length === 0) return undefined;
    await (this.swept ??= this.sweepUnfinished());
    const hash = environmentHash({ python: requirements }, this.options.python);
    const interpreter = this.interpreterFor(hash);
    const pending = this.building.get(hash);
    if (pending) {
      log(`venv ${hash}: another publish is building it; waiting`);
      return { ...(await pending), built: false };
    }
    if (await this.exists(hash)) {
      log(`venv ${hash}: already built; reusing it`);
      return { hash, interpreter, built: false };
    }
    const build = this.build(hash, requirements, log).finally(() => this.building.delete(hash));
    this.building.set(hash, build);
    return build;
  }

  /**
   * Builds a stopped hub left half-done (`.building-*`). Run once, before this hub's first build:
   * one hub owns a data folder, so none of them is still being written.
   */
  private async sweepUnfinished(): Promise<void> {
    const entries = await fs.readdir(this.options.root).catch(() => [] as string[]);
    for (const entry of entries.filter((name) => name.startsWith('.building-'))) {
      await fs.rm(path.join(this.options.root, entry), { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async exists(hash: string): Promise<boolean> {
    return fs.access(path.join(this.options.root, hash, MARKER)).then(() => true, () => false);
  }

  private pipSources(): string[] {
    const { indexUrl, findLinks = [] } = this.options;
    const args: string[] = [];
    if (indexUrl) args.push('--index-url', indexUrl);
    else if (findLinks.length > 0) args.push('--no-index');
    for (const link of findLinks) args.push('--find-links', link);
    return args;
  }

  private async build(hash: string, requirements: string[], log: (line: string) => void): Promise<BuiltEnvironment> {
    const { root, python } = this.options;
    const timeoutMs = this.options.timeoutMs ?? 30 * 60_000;
    const final = path.join(root, hash);
    const staging = path.join(root, `.building-${hash}-${randomUUID().slice(0, 8)}`);
    await fs.mkdir(root, { recursive: true });
    const started = Date.now();
    log(`venv ${hash}: building a venv with ${requirements.join(', ')}`);
    // PIP_* sources of the hub's own environment would silently add to the configured ones.
    const env: NodeJS.ProcessEnv = { ...process.env, PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONDONTWRITEBYTECODE: '1' };
    if (this.options.indexUrl || this.options.findLinks?.length) {
      for (const key of ['PIP_INDEX_URL', 'PIP_EXTRA_INDEX_URL', 'PIP_FIND_LINKS', 'PIP_NO_INDEX']) delete env[key];
    }
    try {
      // --without-pip: the interpreter's own pip installs into the venv (`pip --python`), which
      // saves copying pip into every venv.
      const venv = await runCommand(python, ['-m', 'venv', '--system-site-packages', '--without-pip', staging], env, timeoutMs, (line) => log(`venv: ${line}`));
      if (venv.code !== 0) {
        throw new HubError('BUILD_FAILED', `${python} -m venv failed: ${venv.lines.slice(-3).join(' ')}`, { details: { log_tail: venv.lines.slice(-PIP_TAIL_LINES) } });
      }
      const args = ['-m', 'pip', '--python', path.join(staging, 'bin', 'python'), 'install', '--progress-bar', 'off', ...this.pipSources(), '--', ...requirements];
      const pip = await runCommand(python, args, env, Math.max(1, timeoutMs - (Date.now() - started)), (line) => log(`pip: ${line}`));
      if (pip.code !== 0) {
        const failure = pipFailure(pip.lines, requirements);
        throw new HubError('BUILD_FAILED', `pip could not install ${failure.package ?? requirements.join(', ')}: ${failure.message}`, {
          details: { package: failure.package, requirements, resolver_message: failure.message, log_tail: pip.lines.slice(-PIP_TAIL_LINES) },
        });
      }
      await fs.writeFile(path.join(staging, MARKER), `${JSON.stringify({ hash, python, requirements, built_at: new Date().toISOString() }, null, 2)}\n`);
      try {
        await fs.rename(staging, final);
      } catch (error) {
        // A finished venv of the same hash is already there (a build before a restart): keep it.
        if (!(await this.exists(hash))) throw error;
        await fs.rm(staging, { recursive: true, force: true });
      }
      log(`venv ${hash}: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return { hash, interpreter: this.interpreterFor(hash), built: true };
    } catch (error) {
      await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
  }
}
