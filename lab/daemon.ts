/**
 * One flannel-ts daemon per node namespace, started the way the kube-flannel DaemonSet starts
 * flanneld (its flags as upstream's main.go defines them, NODE_NAME from the downward API), with
 * its own net-conf.json, subnet file and log file in the run directory.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { logTail, startDetached, waitFor, type StartedProcess } from './processes.ts';
import { FLANNELD_BIN, FLANNELD_ENTRY } from './paths.ts';
import { NODE_UPLINK, POD_NETWORK } from './topology.ts';
import type { BackendType, NodeState } from './state.ts';

export interface DaemonOptions {
  readonly backend: BackendType;
  readonly directRouting: boolean;
  readonly ipMasq: boolean;
  readonly kubeconfig: string;
  /** The daemon's command before its flags; default bin/flanneld (an upstream flanneld binary also fits). */
  readonly command?: readonly string[];
  /** Added to the daemon's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** net-conf.json's text instead of the one netConfJson makes. */
  readonly netConf?: string;
}

/** net-conf.json as the manifest's ConfigMap holds it. */
export function netConfJson(backend: BackendType, directRouting: boolean): string {
  const b: Record<string, unknown> = { Type: backend };
  if (backend === 'vxlan' && directRouting) b['DirectRouting'] = true;
  return JSON.stringify({ Network: POD_NETWORK, Backend: b }, null, 2) + '\n';
}

export function startDaemon(node: NodeState, opts: DaemonOptions): StartedProcess {
  const command = opts.command ?? [FLANNELD_BIN];
  if (opts.command === undefined && !existsSync(FLANNELD_ENTRY)) throw new Error(`the daemon is missing: ${FLANNELD_ENTRY} (bin/flanneld runs it)`);
  writeFileSync(node.netConfFile, opts.netConf ?? netConfJson(opts.backend, opts.directRouting));
  const argv = [
    'ip', 'netns', 'exec', node.netns, ...command,
    '--kube-subnet-mgr',
    '--kubeconfig-file', opts.kubeconfig,
    '--iface', NODE_UPLINK,
    '--net-config-path', node.netConfFile,
    '--subnet-file', node.subnetFile,
    '--healthz-port', '8081',
    // The lab and its tests read the log as JSON (klog text is the default).
    '--logging-format=json',
    ...(opts.ipMasq ? ['--ip-masq'] : []),
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
