/**
 * The lab is test tooling, not the daemon: it drives `ip netns`, `ip link`, the CNI reference
 * plugins and `ping` on purpose (the daemon's no-`ip` rule is about src/ code that runs in
 * clusters). This module is the one place the lab, the kernel tests and the benches run those
 * tools through; a failure becomes an error naming the command, its exit status and its stderr.
 */
import { spawnCollect } from '../../src/util/spawn.ts';

export interface RunOptions {
  /** Written to the child's stdin, then closed. */
  readonly input?: string;
  /** Replaces the environment entirely when given (CNI plugins read only CNI_* variables). */
  readonly env?: NodeJS.ProcessEnv;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  readonly allowFailure?: boolean;
  /** SIGTERM after this long; the run then counts as failed (status 128). */
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class CommandError extends Error {
  readonly command: readonly string[];
  readonly result: RunResult;
  constructor(command: readonly string[], result: RunResult) {
    const detail = (result.stderr.trim() || result.stdout.trim()).slice(0, 2000);
    super(`\`${command.join(' ')}\` exited with ${result.code}${detail ? `: ${detail}` : ''}`);
    this.name = 'CommandError';
    this.command = command;
    this.result = result;
  }
}

/** Runs a command to completion and collects its output. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('run: empty command');
  let r: RunResult;
  try {
    r = await spawnCollect(file, args, { input: opts.input, env: opts.env, timeoutMs: opts.timeoutMs });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`\`${file}\` not found (needed to run \`${argv.join(' ')}\`)`);
    throw e;
  }
  const result: RunResult = { code: r.code, stdout: r.stdout, stderr: r.stderr };
  if (result.code !== 0 && opts.allowFailure !== true) throw new CommandError(argv, result);
  return result;
}

/** `run` inside a network namespace, through `ip netns exec`. */
export function runIn(netns: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(['ip', 'netns', 'exec', netns, ...argv], opts);
}

/** What `runIn` printed on stdout, for callers that only read (`ip -j …`, `iptables-save`). */
export async function outputIn(netns: string, argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  return (await runIn(netns, argv, opts)).stdout;
}
