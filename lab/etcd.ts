/**
 * `flannel-lab up --subnet-mgr etcd`: a real etcd (Debian's etcd-server) in the underlay
 * namespace, on the underlay bridge address, holding `/coreos.com/network/config`; the daemons run
 * without --kube-subnet-mgr against it. Test tooling: runs `etcd` and `etcdctl` on purpose.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runIn, type RunOptions, type RunResult } from './harness/exec.ts';
import { logTail, startDetached, waitFor, type StartedProcess } from './processes.ts';
import { API_SERVER_IP } from './topology.ts';

export const ETCD_BIN = '/usr/bin/etcd';
export const ETCDCTL_BIN = '/usr/bin/etcdctl';
export const ETCD_PORT = 2379;
/** flanneld's default --etcd-prefix. */
export const ETCD_PREFIX = '/coreos.com/network';
export const ETCD_ENDPOINT = `http://${API_SERVER_IP}:${ETCD_PORT}`;

/** Why an etcd lab cannot run here, or undefined. */
export function etcdProblem(): string | undefined {
  for (const bin of [ETCD_BIN, ETCDCTL_BIN]) {
    if (!existsSync(bin)) return `${bin} is missing: apt-get install etcd-server etcd-client (scripts/setup.sh installs them)`;
  }
  return undefined;
}

/**
 * Starts etcd in `netns` with its data in `<runDir>/etcd` (kept across stop and start, as a real
 * member's) and its log in `<runDir>/etcd.log`; resolves once it answers.
 */
export async function startLabEtcd(netns: string, runDir: string): Promise<StartedProcess> {
  const problem = etcdProblem();
  if (problem !== undefined) throw new Error(problem);
  const dataDir = join(runDir, 'etcd');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const logFile = join(runDir, 'etcd.log');
  const child = startDetached(
    [
      'ip', 'netns', 'exec', netns, ETCD_BIN,
      '--name', 'lab',
      '--data-dir', dataDir,
      '--listen-client-urls', ETCD_ENDPOINT,
      '--advertise-client-urls', ETCD_ENDPOINT,
      // The peer port stays inside the namespace: a one-member cluster.
      '--listen-peer-urls', 'http://127.0.0.1:2380',
      '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'lab=http://127.0.0.1:2380',
    ],
    logFile,
  );
  await waitFor(
    async () => {
      if (child.exit() !== undefined) throw new Error(`etcd exited (${JSON.stringify(child.exit())}):\n${logTail(logFile)}`);
      const r = await labEtcdctl(netns, ['endpoint', 'health'], { allowFailure: true });
      return r.code === 0 ? true : undefined;
    },
    20_000,
    () => `etcd did not become healthy at ${ETCD_ENDPOINT} within 20 s:\n${logTail(logFile)}`,
  );
  return child;
}

/** etcdctl against the lab's etcd, run in the underlay namespace. */
export function labEtcdctl(netns: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runIn(netns, [ETCDCTL_BIN, '--endpoints', ETCD_ENDPOINT, ...args], { ...opts, env: { ...process.env, ETCDCTL_API: '3', ...opts.env } });
}

/** Writes `<prefix>/config` (net-conf.json's content). */
export async function putLabNetConf(netns: string, json: string): Promise<void> {
  await labEtcdctl(netns, ['put', `${ETCD_PREFIX}/config`, json]);
}
