import { isErrno } from '../util/errors.ts';
import { spawnCollect } from '../util/spawn.ts';

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

export const runCommand: CommandRunner = async (file, args, input) => {
  const r = await spawnCollect(file, args, { input, timeoutMs: COMMAND_TIMEOUT_MS });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr + (r.signal !== null ? `killed by ${r.signal}` : '') };
};

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
