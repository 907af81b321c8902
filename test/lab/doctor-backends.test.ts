/**
 * `flanneld doctor` on healthy host-gw and udp labs (2 nodes each): every check ok, no false
 * alarm from checks written with vxlan in mind (host-gw probes the peer's cni0 gateway, udp's
 * peers live in the daemon, not in kernel tables). The faults are tested on vxlan in
 * doctor.test.ts. And a mixed cluster (one node per backend, as mid-migration): every peer is
 * looked up and probed the way it advertises, and a path smaller than the pod MTU to a peer of
 * another backend is a warning, not a failure.
 */
import { describe, expect, it } from 'vitest';
import { runDoctor } from '../../lab/doctor.ts';
import type { Check } from '../../src/doctor/check.ts';
import type { Report } from '../../src/doctor/report.ts';
import { eventually, HEALTH_PORT } from './daemon-helpers.ts';
import { daemonLabSkip, useLab } from './harness.ts';

const { skip, why } = daemonLabSkip;

for (const backend of ['host-gw', 'udp'] as const) {
  describe.skipIf(skip)(`flanneld doctor, ${backend}${skip ? ` (skipped: ${why})` : ''}`, () => {
    const lab = useLab({ nodes: 2, backend });

    it('a healthy node: every check ok, exit 0', async () => {
      for (const i of [0, 1]) await eventually(async () => expect((await lab().node(i).http('/readyz', HEALTH_PORT)).status).toBe(200), 30_000);
      const r = await runDoctor(lab().state, 0, ['--json']);
      const report = JSON.parse(r.stdout) as Report;
      expect(report.checks.filter((c) => c.status !== 'ok').map((c) => `${c.id} ${c.status}: ${c.evidence}`)).toEqual([]);
      expect(r.code).toBe(0);
      expect(report).toMatchObject({ backend, peers: 1 });
      expect(report.checks.find((c) => c.id === 'reach.overlay')?.evidence).toMatch(/^the 1 peer answers an ICMP echo through the overlay/);
      const mtu = backend === 'host-gw' ? 1500 : 1472;
      expect(report.checks.find((c) => c.id === 'reach.mtu')?.evidence).toBe(`a ${mtu}-byte packet with DF (the pod MTU) reaches the 1 answering peer`);
    });
  });
}

describe.skipIf(skip)(`flanneld doctor, a mixed cluster (vxlan, host-gw, udp)${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 3, backend: 'vxlan', nodeBackends: ['vxlan', 'host-gw', 'udp'] });
  const doctor = async (i: number): Promise<{ code: number; check: (id: string) => Check }> => {
    const r = await runDoctor(lab().state, i, ['--json']);
    const report = JSON.parse(r.stdout) as Report;
    return { code: r.code, check: (id) => report.checks.find((c) => c.id === id)! };
  };

  it('each peer is looked up and probed the way it advertises', async () => {
    for (const i of [0, 1, 2]) await eventually(async () => expect((await lab().node(i).http('/readyz', HEALTH_PORT)).status).toBe(200), 30_000);
    const { code, check } = await doctor(0);
    expect(check('datapath.path')).toMatchObject({ status: 'ok', evidence: 'ip route get picks eth0 via their public IPs for 1 host-gw peer, flannel0 for 1 udp peer' });
    expect(check('reach.overlay').evidence).toMatch(/^all 2 peers answer an ICMP echo through the overlay/);
    // vxlan's 1450-byte pods fit the host-gw (1500) and udp (1472) paths.
    expect(check('reach.mtu')).toMatchObject({ status: 'ok', evidence: 'a 1450-byte packet with DF (the pod MTU) reaches all 2 answering peers' });
    expect(code).toBe(0);
  });

  it('host-gw pods (1500) are larger than the paths to the vxlan and udp peers: a warning naming them', async () => {
    const { code, check } = await doctor(1);
    expect(check('datapath.path').evidence).toBe('ip route get picks flannel.1 for 1 vxlan peer, flannel0 for 1 udp peer');
    const mtu = check('reach.mtu');
    expect(mtu.status).toBe('warn');
    expect(mtu.evidence).toMatch(/^a 1500-byte packet with DF \(the pod MTU\) does not reach "[^"]+-node0" \(10\.244\.1\.0\): largest that passes 1450, .*"[^"]+-node2" \(10\.244\.3\.0\): largest that passes 1472, .*\(peers of another backend than this node's host-gw\)$/);
    expect(code).toBe(1);
  });
});
