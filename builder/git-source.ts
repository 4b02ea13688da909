/**
 * Publishing from a git repository (DLHub's `publish_repository`): the hub fetches one commit of a
 * repository — a tag, a branch or a commit hash — into a folder, bounded in time and size, and
 * the files of that commit become the servable's files.
 *
 * What may be fetched is narrow on purpose, since the URL comes from a caller: https and http
 * only (file:// and local paths when MODELHUB_GIT_ALLOW_LOCAL=true), never git's `<transport>::`
 * helpers (`ext::` runs a command), ssh or scp-like `host:path` forms; git itself is told the same
 * (GIT_ALLOW_PROTOCOL, which also bounds redirects). No prompts, no user or system git
 * configuration, no submodules, links checked out as plain files, and refs that cannot be read as
 * options. A shallow fetch is tried first; servers that cannot do one (dumb HTTP) get a full fetch,
 * watched for size.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { HubError } from '../schemas/errors.ts';
import { listFiles } from './archive.ts';

export interface GitSource {
  git: string;
  ref: string;
}

export interface GitLimits {
  /** Whether file:// URLs and local paths may be fetched (MODELHUB_GIT_ALLOW_LOCAL). */
  allowLocal: boolean;
  /** The whole fetch (every git command together). */
  timeoutMs: number;
  /** Bytes the fetched repository (objects and checked-out files) may take. */
  maxBytes: number;
  /** Files the commit may hold. */
  maxFiles: number;
}

export interface FetchedCommit {
  /** The full commit hash the ref named. */
  commit: string;
  /** The checked-out files (no `.git`). */
  dir: string;
  /** Relative paths of the commit's regular files, sorted. */
  files: string[];
}

const REF_PATTERN = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._/+-]{1,250}$/;
const COMMIT_PATTERN = /^[0-9a-f]{7,64}$/;

const refuse = (message: string, details?: Record<string, unknown>) => new HubError('BAD_REQUEST', message, { details });

/** The URL as git will be given it, or a 400 saying why it is not accepted. */
export function checkGitUrl(url: string, allowLocal: boolean): { url: string; local: boolean } {
  const trimmed = url.trim();
  // `<transport>::<address>` runs a remote helper (ext:: runs any command): never.
  if (trimmed.includes('::')) throw refuse(`source.git "${trimmed}": git transports ("ext::", "<helper>::") are not accepted; use an https:// URL`, { url: trimmed });
  if (trimmed === '' || trimmed.length > 2000 || /[\s\0]/.test(trimmed)) throw refuse('source.git must be a repository URL without spaces');
  if (trimmed.startsWith('-')) throw refuse(`source.git "${trimmed}" is not a URL`);
  const localPath = trimmed.startsWith('/') || trimmed.startsWith('./') || trimmed.startsWith('../');
  if (localPath || trimmed.startsWith('file:')) {
    if (!allowLocal) {
      throw refuse(`source.git "${trimmed}": local repositories (file:// and paths) are not accepted on this hub (MODELHUB_GIT_ALLOW_LOCAL=true allows them); use an https:// URL`, { url: trimmed });
    }
    return { url: localPath ? path.resolve(trimmed) : trimmed, local: true };
  }
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    throw refuse(`source.git "${trimmed}" is not a URL; use https://host/path/repo.git`, { url: trimmed });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw refuse(`source.git "${trimmed}": the ${parsed.protocol.replace(/:$/, '')} scheme is not accepted; use https:// (or http://)`, { url: trimmed });
  }
  return { url: trimmed, local: false };
}

export function checkGitRef(ref: string): string {
  const trimmed = ref.trim();
  if (!REF_PATTERN.test(trimmed) || trimmed.endsWith('.lock') || trimmed.endsWith('/') || trimmed.endsWith('.')) {
    throw refuse(`source.ref "${ref}" is not a tag, branch or commit name`, { ref });
  }
  return trimmed;
}

interface GitRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

class GitFetcher {
  private readonly deadline: number;
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    private readonly work: string,
    private readonly limits: GitLimits,
    local: boolean,
  ) {
    this.deadline = Date.now() + limits.timeoutMs;
    this.env = {
      PATH: process.env.PATH,
      HOME: work,
      LANG: 'C',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: 'true',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_ALLOW_PROTOCOL: local ? 'https:http:file' : 'https:http',
      GIT_PROTOCOL_FROM_USER: '0',
    };
  }

  /** Run git; kill it past the deadline or when the repository grows over the size limit. */
  run(args: string[], watch?: string): Promise<GitRun> {
    const remaining = this.deadline - Date.now();
    if (remaining <= 0) return Promise.reject(this.timeout());
    return new Promise((resolve, reject) => {
      const child = spawn('git', ['-c', 'core.symlinks=false', '-c', 'submodule.recurse=false', '-c', 'core.hooksPath=/dev/null', ...args], {
        cwd: this.work,
        env: this.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let stopped: HubError | undefined;
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)));
      const timer = setTimeout(() => {
        stopped = this.timeout();
        child.kill('SIGKILL');
      }, remaining);
      const poll = watch
        ? setInterval(() => {
            void folderBytes(watch).then((bytes) => {
              if (bytes > this.limits.maxBytes && !stopped) {
                stopped = this.tooLarge(bytes);
                child.kill('SIGKILL');
              }
            });
          }, 200)
        : undefined;
      child.on('error', (error) => {
        clearTimeout(timer);
        clearInterval(poll);
        reject(new HubError('RUNTIME_UNAVAILABLE', `git cannot start: ${error.message}`));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        clearInterval(poll);
        if (stopped) reject(stopped);
        else resolve({ code, stdout, stderr });
      });
    });
  }

  timeout(): HubError {
    return refuse(`fetching the repository took longer than ${Math.round(this.limits.timeoutMs / 1000)} s`, { timeout_seconds: this.limits.timeoutMs / 1000 });
  }

  tooLarge(bytes: number): HubError {
    return refuse(`the repository takes more than ${this.limits.maxBytes} bytes (${bytes} fetched so far); publish a smaller repository or raise MODELHUB_GIT_MAX_MB`, {
      max_bytes: this.limits.maxBytes,
    });
  }
}

async function folderBytes(dir: string): Promise<number> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  let total = 0;
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    total += await fs.stat(path.join(entry.parentPath, entry.name)).then((s) => s.size, () => 0);
  }
  return total;
}

const lastLine = (text: string) => text.trim().split('\n').filter((line) => line.trim() !== '').pop() ?? '';

/** The commit a ref names on the remote (peeled tags first), from `git ls-remote`. */
function resolveRemoteRef(listing: string, ref: string): string | undefined {
  const refs = new Map<string, string>();
  for (const line of listing.split('\n')) {
    const [sha, name] = line.trim().split(/\s+/);
    if (sha && name) refs.set(name, sha);
  }
  for (const name of [`refs/tags/${ref}^{}`, `refs/tags/${ref}`, `refs/heads/${ref}`, `${ref}^{}`, ref]) {
    const sha = refs.get(name);
    if (sha) return sha;
  }
  return undefined;
}

/**
 * Fetch `source.ref` of `source.git` into `work` (created; the caller removes it) and check it out.
 * 400 for a URL, scheme or ref that is refused or does not exist, and past the size or time limit.
 */
export async function fetchGitCommit(source: GitSource, work: string, limits: GitLimits): Promise<FetchedCommit> {
  const { url, local } = checkGitUrl(source.git, limits.allowLocal);
  const ref = checkGitRef(source.ref);
  const repo = path.join(work, 'repo');
  await fs.mkdir(repo, { recursive: true });
  const git = new GitFetcher(work, limits, local);
  const must = async (args: string[], what: string, watch?: string) => {
    const result = await git.run(args, watch);
    if (result.code !== 0) throw refuse(`${what}: ${lastLine(result.stderr) || `git exited with ${result.code}`}`, { url, ref });
    return result;
  };

  const listing = await must(['ls-remote', '--', url], `cannot read the repository ${url}`);
  const named = resolveRemoteRef(listing.stdout, ref);
  if (!named && !COMMIT_PATTERN.test(ref)) {
    throw refuse(`the repository ${url} has no tag, branch or commit "${ref}"`, { url, ref });
  }
  await must(['init', '-q', repo], 'cannot prepare a folder for the repository');
  await must(['-C', repo, 'remote', 'add', '--', 'origin', url], 'cannot add the remote');
  // Shallow first: only the commit asked for. Dumb HTTP servers (and servers that do not serve
  // unadvertised commits) cannot; then everything is fetched, watched for size.
  const wanted = named ?? ref;
  const shallow = await git.run(['-C', repo, 'fetch', '-q', '--depth', '1', '--no-tags', 'origin', '--', wanted], repo);
  if (shallow.code !== 0) {
    await must(['-C', repo, 'fetch', '-q', '--tags', 'origin', '--', '+refs/heads/*:refs/remotes/origin/*'], `cannot fetch ${url}`, repo);
  }
  const commit = await git.run(['-C', repo, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${shallow.code === 0 ? 'FETCH_HEAD' : wanted}^{commit}`]);
  if (commit.code !== 0 || !/^[0-9a-f]{40,64}$/.test(commit.stdout.trim())) {
    throw refuse(`the repository ${url} has no tag, branch or commit "${ref}"`, { url, ref });
  }
  const sha = commit.stdout.trim();
  if (COMMIT_PATTERN.test(ref) && !named && !sha.startsWith(ref)) throw refuse(`the repository ${url} has no commit "${ref}"`, { url, ref });
  await must(['-C', repo, '-c', 'advice.detachedHead=false', 'checkout', '-q', '--detach', sha], `cannot check out ${sha}`, repo);
  const bytes = await folderBytes(repo);
  if (bytes > limits.maxBytes) throw git.tooLarge(bytes);
  await fs.rm(path.join(repo, '.git'), { recursive: true, force: true });
  const files = await listFiles(repo);
  if (files.length > limits.maxFiles) throw refuse(`the commit holds ${files.length} files, more than ${limits.maxFiles}`, { max_files: limits.maxFiles });
  if (files.length === 0) throw refuse(`the commit ${sha} of ${url} holds no files`, { url, ref });
  return { commit: sha, dir: repo, files };
}
