/**
 * The lab is test tooling, not the daemon: it drives `ip netns`, `ip link`, the CNI reference
 * plugins and `ping` on purpose (the daemon's no-`ip` rule is about src/ code that runs in
 * clusters). This module is the one place that spawns those tools and turns a failure into an
 * error naming the command, its exit status and its stderr.
 */
import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Written to the child's stdin, then closed. */
  readonly input?: string;
  /** Replaces the environment entirely when given (CNI plugins read only CNI_* variables). */
  readonly env?: NodeJS.ProcessEnv;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  readonly allowFailure?: boolean;
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
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('run: empty command');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? new Error(`\`${file}\` not found (needed to run \`${argv.join(' ')}\`)`) : e),
    );
    child.on('close', (code, signal) => {
      const result: RunResult = {
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (result.code !== 0 && !opts.allowFailure) reject(new CommandError(argv, result));
      else resolve(result);
    });
    // A child that exits before reading its stdin must not crash us with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** `run` inside a network namespace, through `ip netns exec`. */
export function runIn(netns: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(['ip', 'netns', 'exec', netns, ...argv], opts);
}
