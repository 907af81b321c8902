import { execFileSync } from 'node:child_process';
import { runCommand, type CommandRunner } from '../../src/traffic/exec.ts';

/** Kernel tests need root; skipping would hide a broken module, so they fail loudly instead. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('test/traffic needs root (network namespaces, iptables)');
}

/** Namespaces of this run: fttr-<pid>-<name>. Everything made here is removed by removeAll(). */
export class NetnsSet {
  private readonly prefix = `fttr-${process.pid}-`;
  private readonly made: string[] = [];

  add(name: string): string {
    const ns = this.prefix + name;
    execFileSync('ip', ['netns', 'add', ns]);
    this.made.push(ns);
    sh(ns, 'ip link set lo up');
    return ns;
  }

  removeAll(): void {
    for (const ns of this.made.splice(0)) {
      try {
        execFileSync('ip', ['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
  }
}

/** Runs a shell command inside `ns`; throws with its stderr on failure. */
export function sh(ns: string, cmd: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A CommandRunner that runs inside `ns` and records every spawn. */
export function nsRunner(ns: string): { exec: CommandRunner; calls: { file: string; args: readonly string[]; input: string | undefined }[] } {
  const calls: { file: string; args: readonly string[]; input: string | undefined }[] = [];
  const exec: CommandRunner = (file, args, input) => {
    calls.push({ file, args, input });
    return runCommand('ip', ['netns', 'exec', ns, file, ...args], input);
  };
  return { exec, calls };
}

/** `iptables-save -t table` reduced to our chains' lines: no counters, headers or foreign rules. */
export function savedOurs(ns: string, table: 'nat' | 'filter'): string[] {
  return sh(ns, `iptables-save -t ${table}`)
    .split('\n')
    .filter((l) => /FLANNEL-|flanneld/.test(l))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
}
