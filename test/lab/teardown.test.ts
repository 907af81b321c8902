/**
 * The lab leaves nothing behind: no namespace with its prefix, no process it started (daemons,
 * the API server double, anything run inside its namespaces), no state file, no run directory.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createLab } from '../../lab/lab.ts';
import { listNetns, netnsPids } from '../../lab/harness/netns.ts';
import { isAlive, startDetached, waitFor } from '../../lab/processes.ts';
import { stateFile } from '../../lab/state.ts';
import { sweepStaleLabs } from '../../lab/teardown.ts';
import { nodeBinary, REPO_ROOT } from '../../lab/paths.ts';
import { LAB_HOOK_TIMEOUT_MS, labReady } from './harness.ts';

describe.skipIf(!labReady.ok)(`lab teardown${labReady.ok ? '' : ` (skipped: ${labReady.why})`}`, () => {
  it('removes every namespace and every process it started, also ones started inside its namespaces later', async () => {
    const lab = await createLab({ nodes: 2, podsPerNode: 2, daemon: 'none' });
    let pids: number[] = [];
    try {
      expect(await listNetns(lab.prefix)).toHaveLength(1 + 2 + 4);
      // Stand-ins for processes a test starts inside the lab and forgets about.
      pids = [
        startDetached(['ip', 'netns', 'exec', lab.node(0).netns, 'sleep', '600'], `${lab.state.runDir}/sleep0.log`).pid,
        startDetached(['ip', 'netns', 'exec', lab.pod(1, 1).netns, 'sleep', '600'], `${lab.state.runDir}/sleep1.log`).pid,
      ];
      expect(pids.every(isAlive)).toBe(true);
      // `ip netns exec` enters the namespace only once it runs: on a loaded machine that can be
      // after destroy() has looked, so wait until both are inside.
      const inside = async (): Promise<boolean> =>
        (await netnsPids(lab.node(0).netns)).includes(pids[0]!) && (await netnsPids(lab.pod(1, 1).netns)).includes(pids[1]!);
      await waitFor(async () => ((await inside()) ? true : undefined), 10_000, () => 'the stand-in processes to enter their namespaces');
    } finally {
      await lab.destroy();
    }
    expect(await listNetns(lab.prefix)).toEqual([]);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(existsSync(stateFile(lab.prefix))).toBe(false);
    expect(existsSync(lab.state.runDir)).toBe(false);
  }, LAB_HOOK_TIMEOUT_MS);

  it('stops the daemons and the API server double', async () => {
    // A stand-in daemon: what is tested is that the lab stops what it started.
    const lab = await createLab({ nodes: 2, backend: 'host-gw', daemonCommand: [nodeBinary(), `${REPO_ROOT}test/lab/fixtures/standin-flanneld.ts`] });
    const pids = [...lab.state.nodes.map((n) => n.daemonPid), lab.state.apiServerPid].filter((p): p is number => p !== undefined);
    try {
      expect(pids).toHaveLength(3);
      expect(pids.every(isAlive)).toBe(true);
    } finally {
      await lab.destroy();
    }
    expect(pids.filter(isAlive)).toEqual([]);
    expect(await listNetns(lab.prefix)).toEqual([]);
  }, LAB_HOOK_TIMEOUT_MS);

  it('cleans up after itself when building fails half-way', async () => {
    // Daemons that cannot write subnet.env in 1 ms (or do not exist yet) fail the build after the underlay,
    // the nodes and the API server double are up; none of it may stay.
    const prefix = `flbad${process.pid % 10000}`;
    await expect(createLab({ nodes: 2, prefix, subnetTimeoutMs: 1 })).rejects.toThrow();
    expect(await listNetns(prefix)).toEqual([]);
    expect(existsSync(stateFile(prefix))).toBe(false);
  }, LAB_HOOK_TIMEOUT_MS);

  it('sweeps a lab whose owning test process died before removing it', async () => {
    // A child process builds a lab and is killed before its cleanup, like a test worker that crashed.
    const prefix = `flst${process.pid % 10000}`;
    const script = `import { createLab } from '${REPO_ROOT}lab/lab.ts';
await createLab({ nodes: 1, daemon: 'none', prefix: '${prefix}' });
process.stdout.write('built\\n');
setInterval(() => {}, 1000);`;
    const child = spawn(nodeBinary(), ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => b.toString().includes('built') && resolve());
      child.on('exit', (code) => reject(new Error(`the lab builder exited with ${code}`)));
    });
    expect(await listNetns(prefix)).not.toEqual([]);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    expect(await sweepStaleLabs()).toContain(prefix);
    expect(await listNetns(prefix)).toEqual([]);
  }, LAB_HOOK_TIMEOUT_MS);
});
