/**
 * `flannel-lab up/status/down` as a user runs them (without a daemon, so this tests the command
 * itself): up prints the pods and a full matrix and leaves the lab running, a second up is
 * refused, status shows it, down removes every namespace.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { randomPrefix } from '../../lab/lab.ts';
import { listNetns } from '../../lab/harness/netns.ts';
import { REPO_ROOT } from '../../lab/paths.ts';
import { teardown } from '../../lab/teardown.ts';
import { LAB_HOOK_TIMEOUT_MS, labReady } from './harness.ts';

function flannelLab(...args: string[]): { code: number; out: string } {
  const r = spawnSync(`${REPO_ROOT}bin/flannel-lab`, args, { encoding: 'utf8' });
  return { code: r.status ?? 1, out: r.stdout + r.stderr };
}

describe.skipIf(!labReady.ok)(`flannel-lab command${labReady.ok ? '' : ` (skipped: ${labReady.why})`}`, () => {
  it('brings a lab up, refuses a second one, reports it, and takes it down', async () => {
    const prefix = randomPrefix();
    try {
      const up = flannelLab('up', '--no-daemon', '--nodes', '2', '--prefix', prefix);
      expect(up.out).toContain(`${prefix}-node1-pod0  on ${prefix}-node1  10.244.2.2`);
      expect(up.out).toContain('all pods reach each other');
      expect(up.code).toBe(0);
      expect(await listNetns(prefix)).toHaveLength(1 + 2 + 2);

      const again = flannelLab('up', '--no-daemon', '--nodes', '2', '--prefix', prefix);
      expect(again.code).toBe(1);
      expect(again.out).toContain(`a lab with prefix ${prefix} is already up`);

      const status = flannelLab('status');
      expect(status.out).toContain(`lab ${prefix}: 2 nodes`);

      const down = flannelLab('down', '--prefix', prefix);
      expect(down.code).toBe(0);
      expect(await listNetns(prefix)).toEqual([]);
    } finally {
      await teardown(prefix);
    }
  }, LAB_HOOK_TIMEOUT_MS);

  it('says what is wrong with bad arguments', () => {
    const r = flannelLab('up', '--backend', 'ipip');
    expect(r.code).toBe(1);
    expect(r.out).toContain('--backend must be one of vxlan, host-gw, udp');
  });
});
