import { spawn } from 'node:child_process';
import { isErrno } from '../util/errors.ts';

/** What a finished command left behind. A non-zero `code` is not an exception: callers decide. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs one program with arguments and optional stdin. Injectable so tests can run the same
 * code inside a network namespace (`ip netns exec NS …`) and count forks; production runs the
 * binaries directly with {@link runCommand}. Rejects only when the program could not be started
 * (the error keeps Node's `code`, e.g. 'ENOENT' when iptables is not installed).
 */
export type CommandRunner = (file: string, args: readonly string[], input?: string) => Promise<CommandResult>;

/**
 * A rule tool would normally finish in milliseconds; a minute means it is stuck (a lock holder
 * that never lets go), and a stuck child must not stall every later resync.
 */
const COMMAND_TIMEOUT_MS = 60_000;

export const runCommand: CommandRunner = (file, args, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: COMMAND_TIMEOUT_MS });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    // EPIPE when the tool exits before reading stdin; the exit code tells the story.
    child.stdin.on('error', () => {});
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal !== null ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (signal !== null ? `killed by ${signal}` : ''),
      });
    });
    child.stdin.end(input ?? '');
  });

/** A rule tool exited non-zero. Names the command, the exit code, and what the tool printed. */
export class RuleCommandError extends Error {
  readonly command: string;
  readonly exitCode: number;
  readonly stderr: string;
  constructor(command: string, exitCode: number, stderr: string, detail = '') {
    super(`${command} exited ${exitCode}: ${stderr.trim() || '(no output)'}${detail}`);
    this.name = 'RuleCommandError';
    this.command = command;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** True when `e` says the program is not installed. */
export function isNotInstalled(e: unknown): boolean {
  return isErrno(e, 'ENOENT');
}
