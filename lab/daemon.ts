/**
 * One flannel-ts daemon per node namespace, started the way the kube-flannel DaemonSet starts
 * flanneld (its flags as upstream's main.go defines them, NODE_NAME from the downward API), with
 * its own net-conf.json, subnet file and log file in the run directory.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { logTail, startDetached, waitFor, type StartedProcess } from './processes.ts';
import { FLANNELD_BIN, FLANNELD_ENTRY } from './paths.ts';
import { NODE_UPLINK, POD_NETWORK, POD_NETWORK6 } from './topology.ts';
import type { BackendType, IpFamilyMode, NodeState } from './state.ts';

export interface DaemonOptions {
  readonly backend: BackendType;
  readonly directRouting: boolean;
  /** Default 'ipv4'. */
  readonly ipFamily?: IpFamilyMode;
  /** net-conf.json's EnableNFTables (default false: iptables). */
  readonly nftables?: boolean;
  readonly ipMasq: boolean;
  /** Kube mode: the API server's kubeconfig. */
  readonly kubeconfig?: string;
  /** Etcd mode (no --kube-subnet-mgr): the endpoint; the config is `<prefix>/config` there. */
  readonly etcdEndpoint?: string;
  /** The daemon's command before its flags; default bin/flanneld (an upstream flanneld binary also fits). */
  readonly command?: readonly string[];
  /** Flags every daemon of the lab gets after the usual ones (LabOptions.daemonArgs). */
  readonly daemonArgs?: readonly string[];
  /** More flags after those (a test's one-off setting, e.g. --vxlan-csum-offload=off). */
  readonly extraArgs?: readonly string[];
  /** Added to the daemon's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** net-conf.json's text instead of the one netConfJson makes. */
  readonly netConf?: string;
}

/** net-conf.json as the manifest's ConfigMap holds it; with IPv6 as upstream's dual-stack and IPv6-only docs write it. */
export function netConfJson(backend: BackendType, directRouting: boolean, ipFamily: IpFamilyMode = 'ipv4', nftables = false): string {
  const b: Record<string, unknown> = { Type: backend };
  if (backend === 'vxlan' && directRouting) b['DirectRouting'] = true;
  const families =
    ipFamily === 'ipv4' ? { Network: POD_NETWORK }
    : ipFamily === 'dual' ? { Network: POD_NETWORK, EnableIPv6: true, IPv6Network: POD_NETWORK6 }
    : { EnableIPv4: false, EnableIPv6: true, IPv6Network: POD_NETWORK6 };
  return JSON.stringify({ ...families, ...(nftables ? { EnableNFTables: true } : {}), Backend: b }, null, 2) + '\n';
}

export function startDaemon(node: NodeState, opts: DaemonOptions): StartedProcess {
  const command = opts.command ?? [FLANNELD_BIN];
  if (opts.command === undefined && !existsSync(FLANNELD_ENTRY)) throw new Error(`the daemon is missing: ${FLANNELD_ENTRY} (bin/flanneld runs it)`);
  // A node of a mixed cluster, or one a test switched, keeps its own backend.
  const backend = node.backend ?? opts.backend;
  writeFileSync(node.netConfFile, opts.netConf ?? netConfJson(backend, opts.directRouting && backend === 'vxlan', opts.ipFamily, opts.nftables));
  const mode = opts.etcdEndpoint !== undefined
    ? ['--etcd-endpoints', opts.etcdEndpoint]
    : ['--kube-subnet-mgr', '--kubeconfig-file', opts.kubeconfig!, '--net-config-path', node.netConfFile];
  const argv = [
    'ip', 'netns', 'exec', node.netns, ...command,
    ...mode,
    '--iface', NODE_UPLINK,
    '--subnet-file', node.subnetFile,
    '--healthz-port', '8081',
    // The lab and its tests read the log as JSON (klog text is the default).
    '--logging-format=json',
    ...(opts.ipMasq ? ['--ip-masq'] : []),
    ...(opts.daemonArgs ?? []),
    ...(opts.extraArgs ?? []),
  ];
  return startDetached(argv, node.logFile, { ...process.env, ...opts.env, NODE_NAME: node.name });
}

/** Resolves once the daemon wrote its subnet file; fails early, with its log, if it exits first. */
export async function waitForSubnetFile(node: NodeState, daemon: StartedProcess | undefined, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    () => {
      if (existsSync(node.subnetFile)) return true;
      const ended = daemon?.exit();
      if (ended !== undefined) {
        throw new Error(`the daemon on ${node.name} exited (${ended.code ?? ended.signal}) before writing ${node.subnetFile}:\n${logTail(node.logFile)}`);
      }
      return undefined;
    },
    timeoutMs,
    () => `the daemon on ${node.name} did not write ${node.subnetFile} within ${timeoutMs / 1000} s:\n${logTail(node.logFile)}`,
  );
}
