/**
 * `flanneld doctor` on healthy host-gw and udp labs (2 nodes each): every check ok, no false
 * alarm from checks written with vxlan in mind (host-gw probes the peer's cni0 gateway, udp's
 * peers live in the daemon, not in kernel tables). The faults are tested on vxlan in
 * doctor.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { runDoctor } from '../../lab/doctor.ts';
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
