/**
 * Long-running children of the lab (daemons, the API server double), started detached so that
 * `flannel-lab up` can exit and leave them running, with their output in a log file. Stopping is
 * by pid only: the lab never kills anything it did not start.
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StartedProcess {
  readonly pid: number;
  /** The exit code or signal once the child has ended (only known to the process that started it). */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

export function startDetached(argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv = process.env): StartedProcess {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('startDetached: empty command');
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', fd, fd], env });
    if (child.pid === undefined) throw new Error(`could not start \`${argv.join(' ')}\``);
    let ended: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    child.on('exit', (code, signal) => {
      ended = { code, signal };
    });
    child.on('error', () => {});
    child.unref();
    return { pid: child.pid, exit: () => ended };
  } finally {
    closeSync(fd);
  }
}

/** True while the process exists and is not a zombie (a container's pid 1 may never reap it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL if it has not gone after `graceMs`. Resolves once it is gone. */
export async function stopProcess(pid: number, graceMs = 5000): Promise<void> {
  if (!signal(pid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (!isAlive(pid)) return;
  signal(pid, 'SIGKILL');
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(20);
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** The last lines of a log file, for error messages about a child that failed. */
export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `probe` until it returns a value; throws `describe()` on timeout. */
export async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, describe: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) throw new Error(describe());
    await sleep(100);
  }
}
