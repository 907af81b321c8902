/**
 * `flanneld doctor` on dual-stack and IPv6-only vxlan labs: a healthy node passes every check it
 * can make, and both families' kernel state is checked (flannel.1 and flannel-v6.1, each peer's
 * entries per family). With node0's daemon stopped (it would repair them within a second), a
 * deleted IPv6 route to one peer and a stale IPv6 route are named, and the files, the API and the
 * kernel still tell what the node should be; a flushed ip6tables masquerade chain is named. Peers
 * are probed over ICMPv6 too, by the doctor and by flanneld's own peer health, which on a
 * dual-stack node finds a peer whose IPv6 half alone is cut. With
 * DirectRouting, a peer on the same link is expected direct in both families, as the daemon does it.
 */
import { describe, expect, it } from 'vitest';
import type { DaemonDebugState } from '../../src/doctor/daemon-state.ts';
import { eventually, HEALTH_PORT, logRecords } from './daemon-helpers.ts';
import { check, doctorReport, notOk } from './doctor-helpers.ts';
import { daemonLabSkip, useLab } from './harness.ts';
import type { Lab } from '../../lab/lab.ts';

const { skip, why } = daemonLabSkip;

const doctor = doctorReport;
const waitReady = (lab: Lab, nodes: readonly number[]) =>
  Promise.all(nodes.map((i) => eventually(async () => expect((await lab.node(i).http('/readyz', HEALTH_PORT)).status).toBe(200), 30_000)));

describe.skipIf(skip)(`flanneld doctor, dual-stack vxlan${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 3, backend: 'vxlan', ipFamily: 'dual', daemonArgs: ['--peer-health-interval=1'] });

  it('a healthy node: every check ok, both devices and both families of every peer checked', async () => {
    await waitReady(lab(), [0, 1, 2]);
    const { code, report } = await doctor(lab(), 0);
    expect(notOk(report)).toEqual([]);
    expect(code).toBe(0);
    expect(report).toMatchObject({ backend: 'vxlan', lease: '10.244.1.0/24,fd00:10:244:1::/64', peers: 2 });
    expect(check(report, 'datapath.device').evidence).toBe(
      'flannel.1: vni 1 dstport 8472 local 198.18.0.10 dev eth0 nolearning mtu 1450, up, 10.244.1.0/32; ' +
        'flannel-v6.1: vni 1 dstport 8472 local fd00:198:18::10 dev eth0 nolearning mtu 1430, up, fd00:10:244:1::/128',
    );
    expect(check(report, 'datapath.peers').evidence).toBe('2 peers, each with its route, neighbour and FDB entry per family, as their annotations say (from the API)');
    expect(check(report, 'lease.pod-cidr').evidence).toBe(`node "${lab().node(0).name}" spec.podCIDRs 10.244.1.0/24, fd00:10:244:1::/64`);
    expect(check(report, 'files.subnet-env').evidence).toMatch(/: subnet 10\.244\.1\.1\/24, fd00:10:244:1::1\/64, MTU 1430, as the lease says$/);
    expect(check(report, 'datapath.ip-forward').evidence).toBe('net.ipv4.ip_forward = 1, net.ipv6.conf.all.forwarding = 1');
    expect(check(report, 'reach.overlay').evidence).toMatch(/^all 4 peer addresses answer an ICMP or ICMPv6 echo through the overlay, round trip ≤ [\d.]+ ms$/);
    expect(check(report, 'reach.mtu').evidence).toBe('a 1430-byte packet with DF (the pod MTU) reaches all 4 answering peer addresses');
    expect(check(report, 'datapath.path').evidence).toBe('ip route get picks flannel.1 for all 2 peers; flannel-v6.1 for all 2 peers (IPv6)');
  });

  it('flanneld’s own peer health probes both halves of each peer; ICMPv6 to one peer dropped shows that address alone unreachable, then reachable again', async () => {
    const watcher = lab().node(1);
    const target = lab().node(2);
    const addr6 = target.podCidr6!.replace('/64', '');
    const health = async () => (JSON.parse((await watcher.http('/debug/state', HEALTH_PORT)).body) as DaemonDebugState).peerHealth;
    await eventually(async () => expect(await health()).toMatchObject({ enabled: true, peersProbed: 4, unreachable: [] }), 20_000);
    const drop = ['INPUT', '-p', 'ipv6-icmp', '--icmpv6-type', 'echo-request', '-d', addr6, '-j', 'DROP'];
    await target.exec(['ip6tables', '-I', ...drop]);
    try {
      await eventually(async () => {
        const h = await health();
        expect(h.unreachable.map((u) => `${u.node} ${u.addr}`)).toEqual([`${target.name} ${addr6}`]);
      }, 20_000);
      const { report } = await doctor(lab(), 1, ['--no-probe']);
      expect(check(report, 'reach.peer-health').evidence).toMatch(new RegExp(`^flanneld's own probes \\(every 1 s\\) find unreachable: "${target.name}" \\(${addr6}\\) since `));
    } finally {
      await target.exec(['ip6tables', '-D', ...drop]);
    }
    await eventually(async () => expect((await health()).unreachable).toEqual([]), 20_000);
    const { report } = await doctor(lab(), 1, ['--no-probe']);
    expect(check(report, 'reach.peer-health').evidence).toBe('flanneld probes 4 peer addresses every 1 s: none unreachable');
    // Logged once each way, naming the family's subnet and address; the IPv4 half never changed.
    const lines = logRecords(watcher).map((r) => String(r['msg'])).filter((m) => m.startsWith(`peer ${target.name} `));
    expect(lines).toEqual([
      `peer ${target.name} (${target.podCidr6}, overlay address ${addr6}) is unreachable through the overlay: no answer within 1000 ms (3 probes in a row)`,
      `peer ${target.name} (${target.podCidr6}, overlay address ${addr6}) is reachable through the overlay again`,
    ]);
  });

  it('with node0’s daemon stopped: a deleted IPv6 route to one peer, a stale IPv6 route and a flushed ip6tables chain are named', async () => {
    const n = lab().node(0);
    const peer = lab().node(1);
    await lab().stopDaemon(0);
    await n.exec(['ip', '-6', 'route', 'del', peer.podCidr6!]);
    await n.exec(['ip', '-6', 'route', 'add', 'fd00:10:244:99::/64', 'via', 'fd00:10:244:99::', 'dev', 'flannel-v6.1', 'onlink']);
    await n.exec(['ip6tables', '-t', 'nat', '-F', 'FLANNEL-POSTRTG']);

    const { code, report } = await doctor(lab(), 0, ['--no-probe']);
    expect(code).toBe(2);
    expect(check(report, 'datapath.peers')).toMatchObject({
      status: 'fail',
      evidence: `1 entry for 2 peers is wrong: "${peer.name}": route ${peer.podCidr6} via ${peer.podCidr6!.split('/')[0]} dev flannel-v6.1 onlink missing`,
    });
    expect(check(report, 'datapath.stale')).toMatchObject({ status: 'fail', evidence: '1 entry belongs to no peer: route fd00:10:244:99::/64 via fd00:10:244:99:: dev flannel-v6.1 onlink' });
    // The lookup for that peer's IPv6 address finds no way there (the lab has no IPv6 default route).
    expect(check(report, 'datapath.path')).toMatchObject({ status: 'fail', evidence: expect.stringMatching(new RegExp(`^ip route get: "${peer.name}" \\(fd00:10:244:2::\\): .*ENETUNREACH`)) });
    // The IPv4 rules are intact; the IPv6 chain was flushed: the one check names the family at fault.
    expect(check(report, 'datapath.masquerade')).toMatchObject({
      status: 'fail',
      evidence: expect.stringMatching(/^iptables \(nft\): FLANNEL-POSTRTG has its 6 rules for 10\.244\.1\.0\/24 .*; IPv6: ip6tables \(nft\): FLANNEL-POSTRTG lacks 6 of its 6 rules/),
    });
    // Without the daemon: the interface as flanneld would choose it, for both families.
    expect(check(report, 'datapath.device').status).toBe('ok');
    expect(check(report, 'lease.annotations')).toMatchObject({ status: 'ok', evidence: expect.stringContaining('public-ipv6=fd00:198:18::10') });
    expect(check(report, 'files.subnet-env').status).toBe('ok');
  });
});

describe.skipIf(skip)(`flanneld doctor, IPv6-only vxlan${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 2, backend: 'vxlan', ipFamily: 'ipv6', daemonArgs: ['--peer-health-interval=1'] });

  it('a healthy node: no check fails; the ip6tables rules are checked, the peer probed over ICMPv6', async () => {
    await waitReady(lab(), [0, 1]);
    const { code, report } = await doctor(lab(), 0);
    expect(report.checks.filter((c) => c.status === 'fail' || c.status === 'warn')).toEqual([]);
    expect(code).toBe(0);
    expect(report).toMatchObject({ lease: 'fd00:10:244:1::/64', peers: 1 });
    expect(check(report, 'datapath.device').evidence).toBe('flannel-v6.1: vni 1 dstport 8472 local fd00:198:18::10 dev eth0 nolearning mtu 1430, up, fd00:10:244:1::/128');
    expect(check(report, 'datapath.peers').evidence).toBe('1 peer, each with its route, neighbour and FDB entry, as their annotations say (from the API)');
    expect(check(report, 'lease.annotations').evidence).toBe(`node "${lab().node(0).name}": public-ipv6=fd00:198:18::10, backend-type=vxlan, as flanneld publishes`);
    expect(check(report, 'files.cni0').evidence).toBe('cni0 has fd00:10:244:1::1/64, the gateway of fd00:10:244:1::/64, nothing else');
    expect(check(report, 'datapath.path').evidence).toBe('ip route get picks flannel-v6.1 for all 1 peer');
    expect(check(report, 'datapath.forward').evidence).toBe('ip6tables-nft FORWARD policy ACCEPT, FLANNEL-FWD accepts fd00:10:244::/56');
    expect(check(report, 'datapath.masquerade').evidence).toBe('ip6tables (nft): FLANNEL-POSTRTG has its 6 rules for fd00:10:244:1::/64 (--random-fully), POSTROUTING jumps to it');
    expect(check(report, 'reach.overlay').evidence).toMatch(/^the 1 peer answers an ICMPv6 echo through the overlay, round trip ≤ [\d.]+ ms$/);
    expect(check(report, 'reach.mtu').evidence).toBe('a 1430-byte packet unfragmented (the pod MTU) reaches the 1 answering peer');
    // The health listener binds 0.0.0.0 (upstream's default): IPv4 alone, so no peer's is asked over IPv6.
    const skipped = report.checks.filter((c) => c.status === 'skip').map((c) => `${c.id}: ${c.evidence}`);
    expect(skipped).toEqual(["reach.peer-daemons: this node's health listener is on 0.0.0.0 only, so peers' are not assumed reachable"]);
  });

  it('flanneld’s own peer health probes the IPv6-only peer over ICMPv6', async () => {
    await eventually(async () => {
      const r = await lab().node(0).http('/debug/state', HEALTH_PORT);
      const s = JSON.parse(r.body) as DaemonDebugState;
      expect(s.peerHealth).toMatchObject({ enabled: true, peersProbed: 1, unreachable: [] });
      expect(s.peerHealth.rounds).toBeGreaterThan(0);
    }, 20_000);
    const { report } = await doctor(lab(), 0, ['--no-probe']);
    expect(check(report, 'reach.peer-health').evidence).toBe('flanneld probes 1 peer every 1 s: none unreachable');
  });
});

describe.skipIf(skip)(`flanneld doctor, dual-stack vxlan with DirectRouting${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 2, backend: 'vxlan', ipFamily: 'dual', directRouting: true });

  it('peers on the same link are reached directly in both families, and the doctor expects exactly that', async () => {
    await waitReady(lab(), [0, 1]);
    const { code, report } = await doctor(lab(), 0);
    expect(notOk(report)).toEqual([]);
    expect(code).toBe(0);
    expect(check(report, 'datapath.peers').evidence).toBe('1 peer, each with its route (direct or via flannel), neighbour and FDB entry per family, as their annotations say (from the API)');
    expect(check(report, 'datapath.path').evidence).toBe('ip route get picks flannel.1 (or eth0 for 1 direct peer) for all 1 peer; flannel-v6.1 (or eth0 for 1 direct peer) for all 1 peer (IPv6)');
  });
});
