/** `flannel-lab up --subnet-mgr etcd` as a user runs it: a real etcd, our daemons, full connectivity. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { randomPrefix } from '../../lab/lab.ts';
import { listNetns } from '../../lab/harness/netns.ts';
import { REPO_ROOT } from '../../lab/paths.ts';
import { teardown } from '../../lab/teardown.ts';
import { daemonLabSkip, LAB_HOOK_TIMEOUT_MS } from '../lab/harness.ts';
import { etcdSkip } from './etcd-server.ts';

const skip = daemonLabSkip.skip || etcdSkip.skip;

function flannelLab(...args: string[]): { code: number; out: string } {
  const r = spawnSync(`${REPO_ROOT}bin/flannel-lab`, args, { encoding: 'utf8' });
  return { code: r.status ?? 1, out: r.stdout + r.stderr };
}

describe.skipIf(skip)(`flannel-lab up --subnet-mgr etcd${skip ? ` (skipped: ${daemonLabSkip.why || etcdSkip.why})` : ''}`, () => {
  it('prints the nodes with the subnets they took from etcd and a full connectivity matrix; down removes it all', async () => {
    const prefix = randomPrefix();
    try {
      const up = flannelLab('up', '--subnet-mgr', 'etcd', '--nodes', '2', '--prefix', prefix);
      expect(up.out).toContain(`lab ${prefix}: 2 nodes, backend vxlan, ipv4, subnets in etcd at http://198.18.0.254:2379`);
      expect(up.out).toMatch(new RegExp(`${prefix}-node1  198\\.18\\.0\\.11  podCIDRs 10\\.244\\.\\d+\\.0/24`));
      expect(up.out).toContain('all pods reach each other');
      expect(up.code).toBe(0);
      const down = flannelLab('down', '--prefix', prefix);
      expect(down.code).toBe(0);
      expect(await listNetns(prefix)).toEqual([]);
    } finally {
      await teardown(prefix);
    }
  }, LAB_HOOK_TIMEOUT_MS);

  it('refuses a subnet manager it does not know, and etcd with --no-daemon', () => {
    expect(flannelLab('up', '--subnet-mgr', 'consul')).toEqual({ code: 1, out: 'flannel-lab: --subnet-mgr must be kube or etcd, got "consul"\n' });
    expect(flannelLab('up', '--subnet-mgr', 'etcd', '--no-daemon').out).toContain("--subnet-mgr etcd runs the daemons against the lab's etcd");
  });
});
