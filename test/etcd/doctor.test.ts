/**
 * `flanneld doctor` on a node in etcd mode: the lease checks read etcd (with the daemon's own
 * --etcd-* flags, from /debug/state) instead of the Kubernetes API: the own key holds what the
 * daemon publishes, no public IP twice, the peers' kernel entries as their etcd leases say.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDoctor } from '../../lab/doctor.ts';
import { ETCD_ENDPOINT } from '../../lab/etcd.ts';
import { run } from '../../lab/harness/exec.ts';
import type { Lab } from '../../lab/lab.ts';
import { eventually, HEALTH_PORT } from '../lab/daemon-helpers.ts';
import { check, doctorReport, notOk } from '../lab/doctor-helpers.ts';
import { daemonLabSkip, useLab } from '../lab/harness.ts';
import { etcdSkip } from './etcd-server.ts';
import { LAB_SUBNETS, labKeyOf, parseEtcdctlJson, subnetNoNodeHolds } from './helpers.ts';

const skip = daemonLabSkip.skip || etcdSkip.skip;
const why = daemonLabSkip.skip ? daemonLabSkip.why : etcdSkip.why;
const SUBNETS = LAB_SUBNETS;
const keyOf = labKeyOf;

const doctor = (lab: Lab, i: number, extra: readonly string[] = ['--no-probe']) => doctorReport(lab, i, extra);

describe.skipIf(skip)(`flanneld doctor in etcd mode${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 2, backend: 'vxlan', subnetMgr: 'etcd' });

  it('a healthy node: every check ok, the lease read from etcd and compared byte for byte', async () => {
    await eventually(async () => expect((await lab().node(0).http('/readyz', HEALTH_PORT)).status).toBe(200), 30_000);
    const { code, report } = await doctor(lab(), 0, []);
    expect(notOk(report)).toEqual([]);
    expect(code).toBe(0);
    const n = lab().node(0);
    const stored = parseEtcdctlJson((await lab().etcdctl(['get', '--prefix', SUBNETS, '-w', 'json'])).stdout);
    expect(check(report, 'lease.etcd').evidence).toBe(`${ETCD_ENDPOINT}: 2 keys under ${SUBNETS}`);
    expect(check(report, 'lease.key').evidence).toBe(`${keyOf(n.podCidr)} = ${stored.get(keyOf(n.podCidr))!.value}, as flanneld publishes`);
    expect(check(report, 'datapath.peers').evidence).toBe('1 peer, each with its route, neighbour and FDB entry, as their etcd leases say');
    expect(check(report, 'lease.peers').evidence).toBe('1 peer with valid leases, as flanneld sees them');
    expect(report.checks.some((c) => c.id === 'lease.api')).toBe(false);

    // The bundle carries etcd's keys and <prefix>/config as net-conf.json, and nothing of the API.
    const bundle = join(lab().state.runDir, 'doctor-etcd.tar.gz');
    expect((await runDoctor(lab().state, 0, ['--no-probe', '--bundle', bundle])).code).toBe(0);
    const files = (await run(['tar', '-tzf', bundle])).stdout.split('\n').map((f) => f.replace(/^[^/]+\//, ''));
    expect(files).toContain('etcd/subnets.txt');
    expect(files.filter((f) => f.startsWith('api/'))).toEqual([]);
    const subnets = (await run(['sh', '-c', `tar -xzOf ${bundle} --wildcards '*/etcd/subnets.txt'`])).stdout;
    expect(subnets).toContain(`${keyOf(n.podCidr)} ${stored.get(keyOf(n.podCidr))!.value} (etcd lease `);
    const conf = (await run(['sh', '-c', `tar -xzOf ${bundle} --wildcards '*/files/net-conf.json'`])).stdout;
    expect(JSON.parse(conf)).toMatchObject({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } });
  });

  it("another lease with a node's public IP is named by both subnets", async () => {
    const peer = lab().node(1);
    const foreign = subnetNoNodeHolds(lab().state.nodes, ['10.244.250.0/24', '10.244.251.0/24', '10.244.249.0/24']);
    await lab().etcdctl(['put', keyOf(foreign), `{"PublicIP":"${peer.underlayIp}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:00:02:50"}}`]);
    try {
      const { code, report } = await doctor(lab(), 0);
      expect(check(report, 'lease.public-ip')).toMatchObject({
        status: 'fail',
        evidence: expect.stringMatching(new RegExp(`^${peer.underlayIp.replace(/\./g, '\\.')} is advertised by "(${peer.podCidr}|${foreign})" and "(${peer.podCidr}|${foreign})"$`)),
      });
      expect(code).toBe(2);
    } finally {
      await lab().etcdctl(['del', keyOf(foreign)]);
    }
  });

  it('a lease value no flanneld can read is named with its key', async () => {
    const bad = keyOf(subnetNoNodeHolds(lab().state.nodes, ['10.244.252.0/24', '10.244.253.0/24', '10.244.254.0/24']));
    await lab().etcdctl(['put', bad, 'not json']);
    try {
      const { report } = await doctor(lab(), 0);
      expect(check(report, 'lease.peers')).toMatchObject({
        status: 'warn',
        evidence: `etcd key ${bad}: value is not JSON (Unexpected token 'o', "not json" is not valid JSON)`,
        fix: "malformed etcd keys are skipped by every flanneld (fix or delete them); a view that stays different means the daemon's watch is stuck: restart it",
      });
    } finally {
      await lab().etcdctl(['del', bad]);
    }
  });

  it('with the daemon stopped and its lease deleted: lease.key names the key that is gone', async () => {
    const n = lab().node(0);
    await lab().stopDaemon(0);
    await lab().etcdctl(['del', keyOf(n.podCidr)]);
    // Without the daemon, the doctor is told where etcd is, as flanneld would be.
    const { code, report } = await doctor(lab(), 0, ['--no-probe', '--etcd-endpoints', ETCD_ENDPOINT]);
    expect(check(report, 'lease.key')).toMatchObject({
      status: 'fail',
      evidence: `${keyOf(n.podCidr)} is not in etcd: the lease expired or was deleted`,
      fix: 'flanneld shuts down when its lease is deleted and takes one again when it starts: restart it if it still runs',
    });
    expect(check(report, 'lease.etcd').evidence).toBe(`${ETCD_ENDPOINT}: 1 key under ${SUBNETS}`);
    expect(code).toBe(2);
  });
});
