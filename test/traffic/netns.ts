import type { CommandRunner } from '../../src/traffic/exec.ts';
import { outputIn, runIn } from '../../lab/harness/exec.ts';
import { isRoot } from '../../lab/harness/netns.ts';

export { NetnsSet } from '../../lab/harness/netns.ts';

/** Kernel tests need root; skipping would hide a broken module, so they fail loudly instead. */
export function requireRoot(): void {
  if (!isRoot) throw new Error('test/traffic needs root (network namespaces, iptables)');
}

/** Runs a shell command inside `ns`; its stdout, or a CommandError with its stderr on failure. */
export function sh(ns: string, cmd: string): Promise<string> {
  return outputIn(ns, ['sh', '-c', cmd]);
}

/** A CommandRunner that runs inside `ns` and records every spawn. */
export function nsRunner(ns: string): { exec: CommandRunner; calls: { file: string; args: readonly string[]; input: string | undefined }[] } {
  const calls: { file: string; args: readonly string[]; input: string | undefined }[] = [];
  const exec: CommandRunner = (file, args, input) => {
    calls.push({ file, args, input });
    return runIn(ns, [file, ...args], { input, allowFailure: true });
  };
  return { exec, calls };
}

/** `iptables-save -t table` (or ip6tables-save) reduced to our chains' lines: no counters, headers or foreign rules. */
export async function savedOurs(ns: string, table: 'nat' | 'filter', tool: 'iptables' | 'ip6tables' = 'iptables'): Promise<string[]> {
  return (await sh(ns, `${tool}-save -t ${table}`))
    .split('\n')
    .filter((l) => /FLANNEL-|flanneld/.test(l))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
}
