/**
 * `flanneld doctor` on a lab node: run inside the node's namespace, pointed at the node's own
 * files (its subnet.env, net-conf.json and CNI directories live in the run directory, since the
 * lab's namespaces share this machine's /etc and /opt).
 */
import { join } from 'node:path';
import { nodeCniDirs } from './cni-install.ts';
import { run, type RunResult } from './harness/exec.ts';
import { FLANNELD_BIN } from './paths.ts';
import type { LabState, NodeState } from './state.ts';
import { NODE_UPLINK } from './topology.ts';

/** `flanneld` is bin/flanneld by default; the image's launcher also fits. */
export function doctorArgv(state: LabState, n: NodeState, extra: readonly string[] = [], flanneld = FLANNELD_BIN): string[] {
  const dirs = nodeCniDirs(join(state.runDir, n.name));
  return [
    'ip', 'netns', 'exec', n.netns, flanneld, 'doctor',
    '--node-name', n.name,
    '--cni-conf-dir', dirs.confDir,
    '--cni-bin-dir', dirs.binDir,
    '--subnet-file', n.subnetFile,
    '--net-config-path', n.netConfFile,
    ...(state.kubeconfig !== undefined ? ['--kubeconfig-file', state.kubeconfig] : []),
    '--iface', NODE_UPLINK,
    '--healthz-port', '8081',
    ...extra,
  ];
}

/** Runs the doctor on node `i`; its exit code is the verdict (0 ok, 1 warn, 2 fail), so never throws for one. */
export function runDoctor(state: LabState, i: number, extra: readonly string[] = [], flanneld?: string): Promise<RunResult> {
  const n = state.nodes[i];
  if (n === undefined) throw new Error(`lab ${state.prefix} has no node ${i}`);
  return run(doctorArgv(state, n, extra, flanneld), { allowFailure: true });
}
