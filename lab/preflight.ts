/** What the lab needs from the machine, checked up front with errors that say how to fix it. */
import { accessSync, constants } from 'node:fs';
import { CNI_PATH } from './cni.ts';

export interface Requirement {
  readonly what: string;
  readonly path: string;
  readonly fix: string;
}

const TOOLS: readonly Requirement[] = [
  { what: 'ip (iproute2)', path: '/usr/sbin/ip', fix: 'apt-get install iproute2' },
  { what: 'ping', path: '/usr/bin/ping', fix: 'apt-get install iputils-ping' },
  { what: 'sysctl', path: '/usr/sbin/sysctl', fix: 'apt-get install procps' },
  ...['bridge', 'host-local'].map((p) => ({
    what: `the CNI plugin ${p}`,
    path: `${CNI_PATH}/${p}`,
    fix: 'apt-get install containernetworking-plugins',
  })),
];

/** Problems, one line each; empty when the lab can run. */
export function preflightProblems(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('the lab creates network namespaces and must run as root (try sudo)');
  for (const r of TOOLS) {
    if (!executable(r.path) && !executable(r.path.replace('/usr/sbin/', '/sbin/').replace('/usr/bin/', '/bin/'))) {
      problems.push(`${r.what} is missing (${r.path}): ${r.fix}`);
    }
  }
  return problems;
}

export function assertPreflight(): void {
  const problems = preflightProblems();
  if (problems.length > 0) throw new Error(`flannel-lab cannot run here:\n  ${problems.join('\n  ')}`);
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
