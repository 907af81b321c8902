/**
 * flanneld in etcd mode in the lab (`--subnet-mgr etcd`): a real etcd in the underlay namespace,
 * the daemons without --kube-subnet-mgr. Exact keys, values, TTL and subnet.env; restarts; a lease
 * deleted while the node was down; etcd gone for a minute; the own lease deleted; a bad
 * `<prefix>/config`; pods reaching each other with vxlan, host-gw and udp.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ETCD_ENDPOINT } from '../../lab/etcd.ts';
import { FLANNELD_BIN } from '../../lab/paths.ts';
import { isAlive, startDetached, stopProcess, waitFor } from '../../lab/processes.ts';
import { NODE_UPLINK } from '../../lab/topology.ts';
import type { BackendType } from '../../lab/state.ts';
import { connectivityAmong, eventually, expectedVxlan, link, logRecords, vxlanKernel, vxlanPeers } from '../lab/daemon-helpers.ts';
import { daemonLabSkip, LAB_HOOK_TIMEOUT_MS, useLab, withLab, type Lab } from '../lab/harness.ts';
import { etcdSkip } from './etcd-server.ts';
import { LAB_SUBNETS, labKeyOf, parseEtcdctlJson, subnetNoNodeHolds } from './helpers.ts';

const skip = daemonLabSkip.skip || etcdSkip.skip;
const why = daemonLabSkip.skip ? daemonLabSkip.why : etcdSkip.why;

const SUBNETS = LAB_SUBNETS;
const keyOf = labKeyOf;
const messages = (lab: Lab, i: number): string[] => logRecords(lab.node(i)).map((r) => String(r['msg']));

/**
 * Restarts node i's daemon and waits until it has written subnet.env again (the file of the
 * previous run is still there, so its existence says nothing); `between` runs while it is down.
 */
async function restart(lab: Lab, i: number, between?: () => Promise<unknown>): Promise<void> {
  const wrote = (): number => messages(lab, i).filter((m) => m.startsWith('Wrote subnet file to ')).length;
  const before = wrote();
  await lab.stopDaemon(i);
  await between?.();
  await lab.startDaemon(i, { wait: false });
  await waitFor(() => (wrote() > before ? true : undefined), 30_000, () => `the daemon on ${lab.node(i).name} did not write subnet.env again`);
}

async function leases(lab: Lab) {
  return parseEtcdctlJson((await lab.etcdctl(['get', '--prefix', SUBNETS, '-w', 'json'])).stdout);
}

describe.skipIf(skip)(`etcd mode in the lab, vxlan${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 2, backend: 'vxlan', subnetMgr: 'etcd' });

  it("each node keeps <prefix>/subnets/<ip>-<len> with upstream's bytes in a 24 h lease, writes subnet.env, and pods reach each other", async () => {
    expect((await lab().waitForFullConnectivity()).failures).toEqual([]);
    const stored = await leases(lab());
    const want = new Map<string, string>();
    for (const i of [0, 1]) {
      const n = lab().node(i);
      const mac = (await link(n, 'flannel.1')).address;
      want.set(keyOf(n.podCidr), `{"PublicIP":"${n.underlayIp}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`);
      const first = n.podCidr.replace(/\.0\/24$/, '.1/24');
      expect(n.podCidr).toMatch(/^10\.244\.\d+\.0\/24$/);
      expect((await n.exec(['cat', n.subnetFile])).stdout).toBe(`FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${first}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`);
    }
    expect(new Map([...stored].map(([k, v]) => [k, v.value]))).toEqual(want);
    for (const kv of stored.values()) {
      expect((await lab().etcdctl(['lease', 'timetolive', BigInt(kv.lease).toString(16)])).stdout).toMatch(/granted with TTL\(86400s\)/);
    }
    expect(await vxlanKernel(lab().node(0))).toEqual(expectedVxlan(lab().node(0), await vxlanPeers(lab(), [1])));
    expect(messages(lab(), 0)).toContain('Created subnet manager: Etcd Local Manager with Previous Subnet: None');
  });

  it('a restart reuses the lease: same key, same subnet, same creation revision', async () => {
    const before = await leases(lab());
    const n = lab().node(1);
    const env = (await n.exec(['cat', n.subnetFile])).stdout;
    await restart(lab(), 1);
    const after = await leases(lab());
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    expect(after.get(keyOf(n.podCidr))!.createRevision).toBe(before.get(keyOf(n.podCidr))!.createRevision);
    expect((await n.exec(['cat', n.subnetFile])).stdout).toBe(env);
    expect(messages(lab(), 1)).toContain(`Found lease (ip: ${n.podCidr} ipv6: <nil>) for current IP (${n.underlayIp}), reusing`);
    expect(messages(lab(), 1)).toContain(`Created subnet manager: Etcd Local Manager with Previous Subnet: ${n.podCidr}`);
    expect((await connectivityAmong(lab(), [0, 1])).failures).toEqual([]);
  }, 60_000);

  it('a lease deleted while its node was down: the restarted daemon takes the previous subnet from subnet.env', async () => {
    const n = lab().node(1);
    const before = (await leases(lab())).get(keyOf(n.podCidr))!;
    await restart(lab(), 1, () => lab().etcdctl(['del', keyOf(n.podCidr)]));
    const after = (await leases(lab())).get(keyOf(n.podCidr));
    expect(after?.createRevision).toBeGreaterThan(before.createRevision);
    expect(after?.value).toBe(before.value);
    expect(messages(lab(), 1)).toContain(`Found previously leased subnet (${n.podCidr}), reusing`);
    expect((await connectivityAmong(lab(), [0, 1])).failures).toEqual([]);
  }, 60_000);

  it('etcd gone for 60 s: the datapath stays untouched and pods keep talking; the daemons pick up changes once it is back', async () => {
    const pids = [0, 1].map((i) => lab().node(i).daemonPid!);
    for (const i of [0, 1]) {
      const other = 1 - i;
      await eventually(async () => expect(await vxlanKernel(lab().node(i))).toEqual(expectedVxlan(lab().node(i), await vxlanPeers(lab(), [other]))), 30_000);
    }
    const kernel = [await vxlanKernel(lab().node(0)), await vxlanKernel(lab().node(1))];
    await lab().stopEtcd();
    // 60 s of pings at 10/s from node0's pod to node1's, while the daemons' watches fail and retry.
    const stream = await lab().pingStream(lab().pod(0, 0), lab().pod(1, 0), 600, 0.1);
    expect(stream.received).toBe(stream.transmitted);
    expect([await vxlanKernel(lab().node(0)), await vxlanKernel(lab().node(1))]).toEqual(kernel);
    for (const pid of pids) expect(isAlive(pid)).toBe(true);
    expect(messages(lab(), 0).some((m) => m.startsWith(`etcd watch for ${SUBNETS} failed (no etcd endpoint answered: ${ETCD_ENDPOINT}: connect ECONNREFUSED`))).toBe(true);

    await lab().startEtcd();
    // A new peer appears in etcd: both nodes program it.
    const foreign = subnetNoNodeHolds(lab().state.nodes, ['10.244.250.0/24', '10.244.251.0/24', '10.244.252.0/24']);
    const gateway = foreign.replace('/24', '');
    await lab().etcdctl(['put', keyOf(foreign), '{"PublicIP":"198.18.0.99","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0a:00:00:00:02:50"}}']);
    for (const i of [0, 1]) {
      await eventually(async () => {
        expect((await lab().node(i).exec(['ip', 'route', 'show', foreign])).stdout).toBe(`${foreign} via ${gateway} dev flannel.1 onlink \n`);
      }, 30_000);
    }
    await lab().etcdctl(['del', keyOf(foreign)]);
    for (const i of [0, 1]) {
      await eventually(async () => expect((await lab().node(i).exec(['ip', 'route', 'show', foreign])).stdout).toBe(''), 30_000);
    }
    for (const pid of pids) expect(isAlive(pid)).toBe(true);
  }, 150_000);

  it('a bad <prefix>/config: one precise line naming the key, and nothing else happens', async () => {
    await lab().etcdctl(['put', '/bad/network/config', '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": -1}}']);
    const n = lab().node(0);
    const dir = join(n.subnetFile, '..');
    const logFile = join(dir, 'bad-config.log');
    const subnetFile = join(dir, 'bad-subnet.env');
    const d = startDetached(
      ['ip', 'netns', 'exec', n.netns, FLANNELD_BIN, '--etcd-endpoints', ETCD_ENDPOINT, '--etcd-prefix', '/bad/network', '--iface', NODE_UPLINK, '--subnet-file', subnetFile, '--metrics-port', '0', '--log-format=json'],
      logFile,
    );
    try {
      const line = `Couldn't fetch network config: etcd key /bad/network/config: Backend.VNI: -1 is not a valid VNI (expected an integer 0..16777215)`;
      const lines = (): string[] => logRecords({ ...n, logFile }).map((r) => String(r['msg']));
      await waitFor(() => (lines().includes(line) ? true : undefined), 15_000, () => `no "${line}" in ${logFile}`);
      // It retries every second, as upstream, but says it once.
      await sleep(3000);
      expect(lines().filter((l) => l.startsWith("Couldn't fetch network config"))).toEqual([line]);
      expect(d.exit()).toBeUndefined();
      expect(existsSync(subnetFile)).toBe(false);
      expect((await lab().etcdctl(['get', '--prefix', '/bad/network/subnets/', '--keys-only'])).stdout).toBe('');
    } finally {
      await stopProcess(d.pid);
    }
  });

  it('the own lease deleted: the daemon says so and exits cleanly, leaving the datapath; its peer drops it', async () => {
    const n = lab().node(1);
    const pid = n.daemonPid!;
    await lab().etcdctl(['del', keyOf(n.podCidr)]);
    await waitFor(() => (isAlive(pid) ? undefined : true), 15_000, () => `the daemon on ${n.name} is still running`);
    const tail = messages(lab(), 1).slice(-3);
    expect(tail).toEqual(['Lease has been revoked. Shutting down daemon.', 'Waiting for all goroutines to exit', 'Exiting cleanly...']);
    expect((await link(n, 'flannel.1')).address).toMatch(/^[0-9a-f:]{17}$/);
    await eventually(async () => expect(await vxlanKernel(lab().node(0))).toEqual(expectedVxlan(lab().node(0), [])), 30_000);
  }, 60_000);
});

describe.skipIf(skip)(`etcd mode in the lab: host-gw and udp${skip ? ` (skipped: ${why})` : ''}`, () => {
  it.each([
    ['host-gw', (ip: string) => `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"host-gw"}`, 1500],
    ['udp', (ip: string) => `{"PublicIP":"${ip}","PublicIPv6":null}`, 1472],
  ] as const)('%s: pods reach each other; values and subnet.env as upstream', async (backend, value, mtu) => {
    await withLab({ nodes: 2, backend: backend as BackendType, subnetMgr: 'etcd' }, async (lab) => {
      expect((await lab.waitForFullConnectivity()).failures).toEqual([]);
      const stored = await leases(lab);
      expect(new Map([...stored].map(([k, v]) => [k, v.value]))).toEqual(new Map([0, 1].map((i) => [keyOf(lab.node(i).podCidr), value(lab.node(i).underlayIp)])));
      for (const i of [0, 1]) expect(lab.node(i).subnetEnv().mtu).toBe(mtu);
    });
  }, LAB_HOOK_TIMEOUT_MS);
});

describe.skipIf(skip)(`etcd mode in the lab: dual-stack${skip ? ` (skipped: ${why})` : ''}`, () => {
  it.each(['vxlan', 'host-gw'] as const)("%s: keys <ip>-<len>&<ip6>-<len> with upstream's values, subnet.env with both families, pods reach each other over both", async (backend) => {
    await withLab({ nodes: 2, backend, subnetMgr: 'etcd', ipFamily: 'dual' }, async (lab) => {
      expect((await lab.waitForFullConnectivity()).failures).toEqual([]);
      const want = new Map<string, string>();
      for (const i of [0, 1]) {
        const n = lab.node(i);
        expect(n.podCidr6).toMatch(/^fd00:10:244:[0-9a-f]{0,4}::\/64$/);
        const key = `${keyOf(n.podCidr)}&${n.podCidr6!.replace('/', '-')}`;
        const halves = `"PublicIP":"${n.underlayIp}","PublicIPv6":"${n.underlayIp6}","BackendType":"${backend}"`;
        if (backend === 'host-gw') {
          want.set(key, `{${halves}}`);
        } else {
          const [mac, mac6] = [(await link(n, 'flannel.1')).address, (await link(n, 'flannel-v6.1')).address];
          want.set(key, `{${halves},"BackendData":{"VNI":1,"VtepMAC":"${mac}"},"BackendV6Data":{"VNI":1,"VtepMAC":"${mac6}"}}`);
        }
        const v4 = n.podCidr.replace(/\.0\/24$/, '.1/24');
        const v6 = n.podCidr6!.replace('::/64', '::1/64');
        const mtu = backend === 'vxlan' ? 1430 : 1500;
        expect((await n.exec(['cat', n.subnetFile])).stdout).toBe(
          `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${v4}\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=${v6}\nFLANNEL_MTU=${mtu}\nFLANNEL_IPMASQ=true\n`,
        );
      }
      expect(new Map([...(await leases(lab))].map(([k, v]) => [k, v.value]))).toEqual(want);
    });
  }, LAB_HOOK_TIMEOUT_MS);
});
