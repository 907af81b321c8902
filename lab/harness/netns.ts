/**
 * Network namespaces the lab creates (test tooling: drives `ip netns` on purpose). Every name
 * carries the run's prefix, so removal can find them all even when the state file is lost.
 */
import { run, runIn } from './exec.ts';

export async function createNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'add', name]);
  // Loopback up: pods and daemons expect 127.0.0.1, and ping to a local address needs it.
  await runIn(name, ['ip', 'link', 'set', 'lo', 'up']);
}

/** Names of all namespaces that start with `prefix-` (or equal `prefix`). */
export async function listNetns(prefix: string): Promise<string[]> {
  const { stdout } = await run(['ip', 'netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name === prefix || name.startsWith(`${prefix}-`));
}

/** Pids of the processes whose network namespace is `name`. */
export async function netnsPids(name: string): Promise<number[]> {
  const { stdout } = await run(['ip', 'netns', 'pids', name], { allowFailure: true });
  return stdout
    .split('\n')
    .filter((s) => /^\d+$/.test(s.trim()))
    .map(Number);
}

export async function deleteNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'delete', name], { allowFailure: true });
}

/** Sets a sysctl inside a namespace (`net.*` keys are per namespace). */
export async function sysctlIn(netns: string, key: string, value: string): Promise<void> {
  await runIn(netns, ['sysctl', '-q', '-w', `${key}=${value}`]);
}
