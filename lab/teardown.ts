/**
 * Removes a lab completely: its daemons and API server, anything else still running in its
 * namespaces, the real-API-server plumbing, every namespace with its prefix, its run directory
 * and its state file. Works from the state file when there is one and from the prefix alone when
 * not, and keeps going past individual failures so one stuck piece does not leave the rest behind.
 */
import { rm } from 'node:fs/promises';
import { deleteNetns, listNetns, netnsPids } from './harness/netns.ts';
import { isAlive, stopProcess } from './processes.ts';
import { deleteRealNodes, removeUplink } from './real-apiserver.ts';
import { loadState, removeState, savedLabs } from './state.ts';
import { errorText } from '../src/util/errors.ts';

export async function teardown(prefix: string): Promise<void> {
  const state = loadState(prefix);
  const errors: string[] = [];
  const attempt = async (what: string, f: () => Promise<void>): Promise<void> => {
    try {
      await f();
    } catch (e) {
      errors.push(`${what}: ${errorText(e)}`);
    }
  };

  if (state !== undefined) {
    const pids = [...state.nodes.map((n) => n.daemonPid), state.apiServerPid, state.etcdPid].filter((p): p is number => p !== undefined);
    await Promise.all(pids.map((pid) => attempt(`stopping pid ${pid}`, () => stopProcess(pid))));
  }
  // Whatever else runs in our namespaces was started by the lab too (pings, plugins, a daemon
  // restarted by a test); nothing else can be in a namespace only the lab created.
  const namespaces = await listNetns(prefix);
  for (const ns of namespaces) {
    const pids = await netnsPids(ns);
    await Promise.all(pids.map((pid) => attempt(`stopping pid ${pid} in ${ns}`, () => stopProcess(pid, 2000))));
  }
  if (state?.uplink !== undefined) await attempt('removing the uplink', () => removeUplink(state.uplink!));
  if (state?.realApiServer && state.kubeconfig !== undefined) {
    await attempt('deleting Node objects', () => deleteRealNodes(state.kubeconfig!, state.nodes.map((n) => n.name)));
  }
  for (const ns of namespaces) await attempt(`deleting netns ${ns}`, () => deleteNetns(ns));
  const left = await listNetns(prefix);
  if (left.length > 0) errors.push(`namespaces still present: ${left.join(', ')}`);
  if (state !== undefined) await attempt('removing the run dir', () => rm(state.runDir, { recursive: true, force: true }));
  removeState(prefix);
  if (errors.length > 0) throw new Error(`tearing down lab ${prefix}:\n  ${errors.join('\n  ')}`);
}

/**
 * Removes labs whose owning process (a test run killed before its cleanup) is gone. Labs left up
 * by `flannel-lab up` have no owner and are never swept. Returns the prefixes removed.
 */
export async function sweepStaleLabs(): Promise<string[]> {
  const swept: string[] = [];
  for (const prefix of savedLabs()) {
    const owner = loadState(prefix)?.ownerPid;
    if (owner === undefined || isAlive(owner)) continue;
    await teardown(prefix).catch(() => {});
    swept.push(prefix);
  }
  return swept;
}
