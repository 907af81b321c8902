import { spawn } from 'node:child_process';

/** What a finished program left behind. A non-zero `code` is not an exception: callers decide. */
export interface SpawnResult {
  /** The exit status; 128 when a signal ended the program, 1 when Node reports neither. */
  readonly code: number;
  /** The signal that ended the program (a timeout's SIGTERM, for one), or null. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface SpawnOptions {
  /** Written to the program's stdin, then closed (an empty stdin when absent). */
  readonly input?: string;
  /** Replaces the environment entirely when given. */
  readonly env?: NodeJS.ProcessEnv;
  /** SIGTERM after this long: a stuck child must not stall its caller for ever. */
  readonly timeoutMs?: number;
}

/**
 * Runs one program to completion and collects its output: the one place that spawns and reads a
 * child for the daemon's rule tools (src/traffic) and for the lab's harness. Rejects only when the
 * program could not be started; the error keeps Node's `code` ('ENOENT' when it is not installed).
 */
export function spawnCollect(file: string, args: readonly string[], opts: SpawnOptions = {}): Promise<SpawnResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, timeout: opts.timeoutMs });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    // EPIPE when the program exits before reading its stdin; the exit status tells the story.
    child.stdin.on('error', () => {});
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal !== null ? 128 : 1),
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.end(opts.input ?? '');
  });
}
