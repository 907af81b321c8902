import { describe, expect, it } from 'vitest';
import type { Check } from '../../../src/doctor/check.ts';
import { checkDaemon } from '../../../src/doctor/checks/daemon.ts';
import { checkDatapath, type DatapathIo } from '../../../src/doctor/checks/datapath.ts';
import { checkFiles } from '../../../src/doctor/checks/files.ts';
import { checkLease } from '../../../src/doctor/checks/lease.ts';
import { checkReach } from '../../../src/doctor/checks/reach.ts';
import { checkRules } from '../../../src/doctor/checks/rules.ts';
import type { Gathered } from '../../../src/doctor/facts.ts';
import { deriveModel } from '../../../src/doctor/model.ts';
import { parseKernelRelease } from '../../../src/kernel/release.ts';
import { AF_BRIDGE, NTF_SELF, NUD_PERMANENT } from '../../../src/netlink/types.ts';
import { CONFLIST, daemonState, gathered, IPTABLES_SAVE, MAC, node, P, rules, withKernel } from './fixtures.ts';

/** `ip route get` as the fixture's kernel answers it: peers' overlay addresses via flannel.1. */
const io = (over: Partial<DatapathIo> = {}): DatapathIo => ({ routeGet: async (ip) => [{ family: 2, dst: `${ip}/32`, gateway: ip, oif: 5 }], txCsum: () => true, ...over });

async function all(g: Gathered, dio: DatapathIo = io()): Promise<Check[]> {
  const m = deriveModel(g);
  const reach = await checkReach(g, m, { probe: async (_d, size) => ({ ok: true, size, rttMs: 0.3 }), httpGet: async () => ({ status: 200 }) }, { timeoutMs: 10, attempts: 1 });
  return [...checkDaemon(g), ...checkLease(g, m), ...checkFiles(g, m), ...(await checkDatapath(g, m, dio)), ...checkRules(g, m), ...reach.checks];
}
const find = (cs: readonly Check[], id: string): Check => {
  const c = cs.find((x) => x.id === id);
  if (c === undefined) throw new Error(`no ${id}`);
  return c;
};
const notOk = (cs: readonly Check[]) => cs.filter((c) => c.status !== 'ok').map((c) => `${c.id}: ${c.evidence}`);

describe('doctor checks on a healthy vxlan node', () => {
  it('are all ok, with evidence naming what was seen', async () => {
    const cs = await all(gathered());
    expect(notOk(cs)).toEqual([]);
    expect(cs.map((c) => c.id)).toEqual([
      'daemon.running', 'lease.api', 'lease.pod-cidr', 'lease.annotations', 'lease.public-ip', 'lease.peers',
      'files.subnet-env', 'files.cni-conf', 'files.cni-bin', 'files.cni0',
      'datapath.device', 'datapath.peers', 'datapath.stale', 'datapath.path', 'datapath.mtu', 'datapath.ip-forward', 'datapath.br-netfilter', 'datapath.neigh-table', 'datapath.csum-offload',
      'datapath.forward', 'datapath.masquerade',
      'reach.overlay', 'reach.mtu', 'reach.peer-daemons', 'reach.peer-health',
    ]);
    expect(find(cs, 'daemon.running').evidence).toBe('flanneld 0.1.0 (pid 42, up 10m): live and ready');
    expect(find(cs, 'datapath.device').evidence).toBe('flannel.1: vni 1 dstport 8472 local 198.18.0.10 dev eth0 nolearning mtu 1450, up, 10.244.1.0/32');
    expect(find(cs, 'datapath.mtu').evidence).toBe('eth0 1500 − 50 (vxlan) = 1450; cni0 1450 and 1 pod interface within it');
    expect(find(cs, 'datapath.forward').evidence).toBe('iptables-nft FORWARD policy ACCEPT, FLANNEL-FWD accepts 10.244.0.0/16');
    expect(find(cs, 'datapath.masquerade').evidence).toBe('iptables (nft): FLANNEL-POSTRTG has its 6 rules for 10.244.1.0/24 (--random-fully), POSTROUTING jumps to it');
  });
});

describe('doctor checks find one fault each', () => {
  it('daemon: not answering, not ready', async () => {
    expect(find(await all(gathered({ daemon: { ok: false, error: 'http://127.0.0.1:8081/debug/state: ECONNREFUSED' } })), 'daemon.running')).toMatchObject({
      status: 'fail',
      evidence: 'no answer from flanneld: http://127.0.0.1:8081/debug/state: ECONNREFUSED; checking the node from files, the API and the kernel alone',
    });
    const d = daemonState();
    const notReady = { ...d, ready: { ok: false, body: 'not ready: programming 2 peers' } };
    expect(find(await all(gathered({ daemon: { ok: true, value: notReady } })), 'daemon.running')).toMatchObject({ status: 'warn', evidence: 'flanneld 0.1.0 (pid 42, up 10m): not ready: programming 2 peers' });
  });

  it('lease: no podCIDR, annotations that differ, a public-ip twice', async () => {
    const g = gathered();
    const nodes = g.api.ok ? [...g.api.value.nodes] : [];
    nodes[0] = { ...nodes[0]!, podCIDR: undefined, podCIDRs: [] } as never;
    let cs = await all(gathered({ api: { ok: true, value: { server: 's', nodes } } }));
    expect(find(cs, 'lease.pod-cidr')).toMatchObject({ status: 'fail', evidence: 'node "a" has no spec.podCIDR', fix: expect.stringContaining('--allocate-node-cidrs=true') });

    nodes[0] = node('a', '10.244.1.0/24', '198.18.0.10', '0a:00:00:00:00:99');
    cs = await all(gathered({ api: { ok: true, value: { server: 's', nodes } } }));
    expect(find(cs, 'lease.annotations')).toMatchObject({
      status: 'fail',
      evidence: `node "a": ${P}backend-data="{\\"VNI\\":1,\\"VtepMAC\\":\\"0a:00:00:00:00:99\\"}", flanneld publishes "{\\"VNI\\":1,\\"VtepMAC\\":\\"${MAC.a}\\"}"`,
    });

    nodes[0] = node('a', '10.244.1.0/24', '198.18.0.10', MAC.a);
    nodes[2] = node('c', '10.244.3.0/24', '198.18.0.10', MAC.c);
    cs = await all(gathered({ api: { ok: true, value: { server: 's', nodes } } }));
    expect(find(cs, 'lease.public-ip')).toMatchObject({ status: 'fail', evidence: '198.18.0.10 is advertised by "a" and "c"', data: [{ ip: '198.18.0.10', nodes: ['a', 'c'] }] });
  });

  it('lease: a malformed peer is named', async () => {
    const g = gathered();
    const nodes = g.api.ok ? [...g.api.value.nodes] : [];
    nodes.push({ ...node('d', '10.244.4.0/24', 'not-an-ip', MAC.b) });
    expect(find(await all(gathered({ api: { ok: true, value: { server: 's', nodes } } })), 'lease.peers')).toMatchObject({
      status: 'warn',
      evidence: `node "d": ${P}public-ip: "not-an-ip" is not an IPv4 address`,
    });
  });

  it('files: subnet.env MTU, the CNI config another runtime file shadows, a missing plugin', async () => {
    const env = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n';
    expect(find(await all(gathered({ subnetEnv: { ok: true, value: { text: env, vars: new Map(env.trim().split('\n').map((l) => l.split('=') as [string, string])) } } })), 'files.subnet-env')).toMatchObject({
      status: 'fail',
      evidence: '/run/flannel/subnet.env: FLANNEL_MTU=1500, want 1450',
    });
    const g = gathered();
    const shadow = { ...g.cni, confFiles: { ok: true as const, value: [{ name: '10-containerd-net.conflist', text: { ok: true as const, value: '{"name":"containerd-net","plugins":[{"type":"bridge"},{"type":"portmap"}]}' } }, { name: '10-flannel.conflist', text: { ok: true as const, value: CONFLIST } }] } };
    expect(find(await all(gathered({ cni: shadow })), 'files.cni-conf')).toMatchObject({
      status: 'fail',
      evidence: '/etc/cni/net.d/10-containerd-net.conflist comes first by name and calls bridge, portmap, not flannel (also there: 10-flannel.conflist)',
    });
    const broken = { ...g.cni, confFiles: { ok: true as const, value: [{ name: '10-flannel.conflist', text: { ok: true as const, value: '{"name":' } }] } };
    expect(find(await all(gathered({ cni: broken })), 'files.cni-conf').status).toBe('fail');
    const bins = g.cni.bins.map((b) => (b.name === 'host-local' ? { name: b.name, ok: false, detail: '/opt/cni/bin/host-local: ENOENT' } : b));
    expect(find(await all(gathered({ cni: { ...g.cni, bins } })), 'files.cni-bin')).toMatchObject({ status: 'fail', evidence: '/opt/cni/bin/host-local: ENOENT', data: ['host-local'] });
  });

  it('files: cni0 with an old podCIDR’s address', async () => {
    const kernel = withKernel((k) => {
      k.addrs = [...k.addrs.filter((a) => a.index !== 6), { index: 6, family: 2, address: '10.244.7.1', prefixLen: 24 }];
    });
    expect(find(await all(gathered({ kernel })), 'files.cni0')).toMatchObject({
      status: 'fail',
      evidence: 'cni0 has 10.244.7.1/24 besides no 10.244.1.1/24 (from another podCIDR: the bridge plugin now fails with "cni0 already has an IP address different from")',
      fix: expect.stringContaining('ip link delete cni0'),
    });
  });

  it('datapath: device attributes', async () => {
    const kernel = withKernel((k) => {
      k.links = k.links.map((l) => (l.name === 'flannel.1' ? { ...l, mtu: 1500, up: false, vxlan: { ...l.vxlan!, port: 4789, learning: true } } : l));
    });
    expect(find(await all(gathered({ kernel })), 'datapath.device')).toMatchObject({
      status: 'fail',
      evidence: 'flannel.1: dstport 4789, want 8472; learning, want nolearning; mtu 1500, want 1450; down',
    });
  });

  it('datapath: a peer whose entries are missing or point elsewhere is named; stale entries are listed', async () => {
    const kernel = withKernel((k) => {
      k.routes = k.routes.filter((r) => r.dst !== '10.244.2.0/24');
      k.neighs = k.neighs.map((n) => (n.ip === '10.244.3.0' ? { ...n, mac: '0a:00:00:00:00:99' } : n));
      k.fdb = [...k.fdb, { index: 5, family: AF_BRIDGE, ip: '198.18.0.99', mac: '02:00:de:ad:be:ef', state: NUD_PERMANENT, flags: NTF_SELF }];
    });
    const cs = await all(gathered({ kernel }));
    expect(find(cs, 'datapath.peers')).toMatchObject({
      status: 'fail',
      evidence: '2 entries for 2 peers are wrong: "b": route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink missing, "c": neighbour is 10.244.3.0 lladdr 0a:00:00:00:00:99, annotations want 10.244.3.0 lladdr 0a:00:00:00:00:0c',
    });
    expect(find(cs, 'datapath.stale')).toMatchObject({ status: 'warn', evidence: '1 entry belongs to no peer: fdb 02:00:de:ad:be:ef dst 198.18.0.99' });
    // A route to a subnet no peer holds steers traffic away: that is a failure.
    const stale = withKernel((k) => {
      k.routes = [...k.routes, { family: 2, dst: '10.244.9.0/24', gateway: '10.244.9.0', oif: 5, onlink: true }];
    });
    expect(find(await all(gathered({ kernel: stale })), 'datapath.stale')).toMatchObject({ status: 'fail', evidence: '1 entry belongs to no peer: route 10.244.9.0/24 via 10.244.9.0 dev flannel.1 onlink' });
  });

  it('datapath: in a mixed cluster (or a migration) each peer is checked by the backend it advertises', async () => {
    const d = daemonState();
    const daemon = { ok: true as const, value: { ...d, peers: [d.peers[0]!, { ...d.peers[1]!, backendType: 'host-gw', backendData: 'null' }] } };
    const api = {
      ok: true as const,
      value: {
        server: 'https://10.96.0.1:443',
        nodes: [node('a', '10.244.1.0/24', '198.18.0.10', MAC.a), node('b', '10.244.2.0/24', '198.18.0.11', MAC.b), node('c', '10.244.3.0/24', '198.18.0.12', MAC.c, { [`${P}backend-type`]: 'host-gw', [`${P}backend-data`]: 'null' })],
      },
    };
    const kernel = withKernel((k) => {
      k.routes = k.routes.map((r) => (r.dst === '10.244.3.0/24' ? { family: 2, dst: '10.244.3.0/24', gateway: '198.18.0.12', oif: 2 } : r));
      k.neighs = k.neighs.filter((n) => n.ip !== '10.244.3.0');
      k.fdb = k.fdb.filter((n) => n.mac !== MAC.c);
    });
    const cs = await all(gathered({ daemon, api, kernel }));
    expect(find(cs, 'datapath.peers')).toMatchObject({
      status: 'ok',
      evidence: '2 peers, each with its entries for the backend it advertises (route, neighbour and FDB entry; route via its public IP), as their annotations say (from the API)',
    });
    expect(find(cs, 'datapath.stale')).toMatchObject({ status: 'ok' });
    // With its route still on flannel.1, the host-gw peer's own route is missing (and nothing is stale).
    const wrong = withKernel((k) => {
      k.neighs = k.neighs.filter((n) => n.ip !== '10.244.3.0');
      k.fdb = k.fdb.filter((n) => n.mac !== MAC.c);
    });
    expect(find(await all(gathered({ daemon, api, kernel: wrong })), 'datapath.peers')).toMatchObject({
      status: 'fail',
      evidence: '1 entry for 2 peers is wrong: "c": route 10.244.3.0/24 via 198.18.0.12 dev eth0 missing',
    });
  });

  it('datapath: ip route get that does not take the overlay names the peer', async () => {
    const shadowed = io({ routeGet: async (ip) => (ip === '10.244.3.0' ? [{ family: 2, dst: `${ip}/32`, gateway: '198.18.0.1', oif: 2 }] : [{ family: 2, gateway: ip, oif: 5 }]) });
    expect(find(await all(gathered(), shadowed), 'datapath.path')).toMatchObject({
      status: 'fail',
      evidence: 'ip route get: "c" (10.244.3.0) goes via 198.18.0.1 dev eth0, not dev flannel.1',
    });
    expect(find(await all(gathered()), 'datapath.path').evidence).toBe('ip route get picks flannel.1 for all 2 peers');
  });

  it('datapath: a pod with a larger MTU, named by its address', async () => {
    const kernel = withKernel((k) => {
      k.links = k.links.map((l) => (l.name === 'veth1' || l.name === 'cni0' ? { ...l, mtu: 1500 } : l));
    });
    expect(find(await all(gathered({ kernel })), 'datapath.mtu')).toMatchObject({
      status: 'fail',
      evidence: 'pod MTU must be ≤ eth0 1500 − 50 (vxlan) = 1450: cni0 mtu 1500, pod interface veth1 (pod 10.244.1.2) mtu 1500',
    });
  });

  it('datapath: ip_forward, br_netfilter missing or off', async () => {
    let cs = await all(gathered({ sysctl: { 'net/ipv4/ip_forward': '0', 'net/bridge/bridge-nf-call-iptables': undefined } }));
    expect(find(cs, 'datapath.ip-forward')).toMatchObject({ status: 'fail', evidence: 'net.ipv4.ip_forward = 0: the node does not route between pods and the overlay' });
    expect(find(cs, 'datapath.br-netfilter')).toMatchObject({ status: 'fail', fix: 'modprobe br_netfilter, and list it in /etc/modules-load.d' });
    cs = await all(gathered({ sysctl: { 'net/ipv4/ip_forward': '1', 'net/bridge/bridge-nf-call-iptables': '0' } }));
    expect(find(cs, 'datapath.br-netfilter')).toMatchObject({ status: 'fail', evidence: expect.stringMatching(/^net\.bridge\.bridge-nf-call-iptables = 0: /) });
  });

  it('datapath: neighbour table thresholds against the peer count', async () => {
    const small = withKernel((k) => {
      k.neighTable = { name: 'arp_cache', thresh1: 1, thresh2: 2, thresh3: 4 };
    });
    expect(find(await all(gathered({ kernel: small })), 'datapath.neigh-table')).toMatchObject({ status: 'warn', evidence: '2 peers + 1 pod ≈ 3 ARP entries; gc_thresh2 2, gc_thresh3 4' });
    const tiny = withKernel((k) => {
      k.neighTable = { name: 'arp_cache', thresh1: 1, thresh2: 2, thresh3: 3 };
    });
    expect(find(await all(gathered({ kernel: tiny })), 'datapath.neigh-table')).toMatchObject({ status: 'fail', fix: expect.stringContaining('1024, 1024, 1024') });
  });

  it('datapath: the checksum-offload bug needs an old kernel, offload on and --random-fully', async () => {
    const old = withKernel((k) => {
      k.version = parseKernelRelease('5.4.0-150-generic');
    });
    expect(find(await all(gathered({ kernel: old })), 'datapath.csum-offload')).toMatchObject({
      status: 'fail',
      evidence: 'kernel 5.4.0-150-generic (< 5.7) with flannel.1 tx-checksum-ip-generic on while masquerade rules use --random-fully: cross-node Service traffic loses packets to bad UDP checksums (~63 s stalls)',
      fix: 'run flanneld with --vxlan-csum-offload=auto (the default) or off, or: ethtool -K flannel.1 tx-checksum-ip-generic off',
    });
    expect(find(await all(gathered({ kernel: old }), io({ txCsum: () => false })), 'datapath.csum-offload')).toMatchObject({ status: 'ok', evidence: expect.stringContaining('worked around: flannel.1 tx-checksum-ip-generic off') });
    const plain = IPTABLES_SAVE.replaceAll(' --random-fully', '');
    expect(find(await all(gathered({ kernel: old, rules: rules(plain) })), 'datapath.csum-offload').status).toBe('warn');
    // flanneld wants it off but the device says on: its ethtool call failed.
    const d = { ...daemonState(), csumOffload: { mode: 'off', want: 'off' as const, reason: '--vxlan-csum-offload=off' } };
    expect(find(await all(gathered({ daemon: { ok: true, value: d } })), 'datapath.csum-offload')).toMatchObject({ status: 'fail', evidence: expect.stringContaining('but flanneld wants it off') });
  });

  it('rules: FORWARD policy DROP without accept rules, and with other rules that accept the Network', async () => {
    const dropped = IPTABLES_SAVE.replace(':FORWARD ACCEPT', ':FORWARD DROP').replace('-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\n', '');
    expect(find(await all(gathered({ rules: rules(dropped) })), 'datapath.forward')).toMatchObject({
      status: 'fail',
      evidence: 'iptables-nft FORWARD policy DROP and no rule accepts 10.244.0.0/16: pod traffic between nodes is dropped',
    });
    const own = dropped.replace(':FLANNEL-FWD - [0:0]\n', '').replace(/-A FLANNEL-FWD /g, '-A FORWARD ');
    // With --iptables-forward-rules=false the admin's own rules are what counts.
    const settings = { ...gathered().settings, iptablesForwardRules: false };
    expect(find(await all(gathered({ rules: rules(own), settings })), 'datapath.forward')).toMatchObject({ status: 'ok', evidence: 'iptables-nft FORWARD policy DROP, FORWARD accepts 10.244.0.0/16' });
    // With them on, a missing FLANNEL-FWD means flanneld is not doing its job, though traffic passes.
    expect(find(await all(gathered({ rules: rules(own) })), 'datapath.forward')).toMatchObject({
      status: 'warn',
      evidence: 'iptables-nft FORWARD policy DROP, FORWARD accepts 10.244.0.0/16; FLANNEL-FWD is missing (traffic passes meanwhile)',
    });
  });

  it('rules: masquerade rules missing, and kube-proxy on the other iptables backend', async () => {
    const missing = IPTABLES_SAVE.replace(/-A FLANNEL-POSTRTG ! -s 10\.244\.0\.0\/16 -d 10\.244\.0\.0\/16 .*\n/, '');
    expect(find(await all(gathered({ rules: rules(missing) })), 'datapath.masquerade')).toMatchObject({
      status: 'fail',
      evidence: 'iptables (nft): FLANNEL-POSTRTG lacks 1 of its 6 rules (e.g. "! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully"): pods reaching outside the cluster are not masqueraded',
    });
    const mixed = { ...rules(), legacySave: { ok: true as const, value: '*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n' } };
    expect(find(await all(gathered({ rules: mixed })), 'datapath.masquerade')).toMatchObject({ status: 'warn', evidence: expect.stringContaining("kube-proxy's chains are in iptables-legacy while flannel's are in iptables-nft") });
  });

  it('reach: an unreachable peer, a path below the pod MTU, a silent flanneld, each named', async () => {
    const g = gathered();
    const m = deriveModel(g);
    const r = await checkReach(
      g,
      m,
      {
        probe: async (dst, size) => (dst === '10.244.3.0' ? { ok: false, size, reason: 'timeout', detail: 'no answer within 10 ms' } : size <= 1400 ? { ok: true, size, rttMs: 0.4 } : { ok: false, size, reason: 'timeout', detail: 'no answer within 10 ms' }),
        httpGet: async () => ({ error: 'ECONNREFUSED' }),
      },
      { timeoutMs: 10, attempts: 1 },
    );
    expect(r.checks.map((c) => [c.id, c.status, c.evidence])).toEqual([
      ['reach.overlay', 'fail', '1 of 2 peers does not answer through the overlay: "c" (10.244.3.0): no answer within 10 ms'],
      ['reach.mtu', 'fail', 'a 1450-byte packet with DF (the pod MTU) does not reach "b" (10.244.2.0): largest that passes 1400, no answer within 10 ms'],
      ['reach.peer-daemons', 'fail', 'the overlay reaches them, but flanneld does not answer :8081/healthz on "b" (10.244.2.0): ECONNREFUSED'],
      ['reach.peer-health', 'ok', 'flanneld probes 2 peers every 60 s: none unreachable'],
    ]);
    expect(r.probes.map((p) => [p.node, p.path.reachable, p.path.largest])).toEqual([['b', true, 1400], ['c', false, undefined]]);
  });

  it('reach: a peer’s health port that only stays silent may be a firewall: a warning, not a failure', async () => {
    const g = gathered();
    const r = await checkReach(g, deriveModel(g), { probe: async (_d, size) => ({ ok: true, size, rttMs: 0.4 }), httpGet: async (url) => (url.includes('10.244.3.0') ? { error: 'no answer within 2000 ms' } : { status: 200 }) }, { timeoutMs: 10, attempts: 1 });
    expect(r.checks.find((c) => c.id === 'reach.peer-daemons')).toMatchObject({
      status: 'warn',
      evidence: 'the overlay reaches them, but flanneld does not answer :8081/healthz on "c" (10.244.3.0): no answer within 2000 ms',
      fix: 'no answer at all: flanneld may be down there, or a firewall filters TCP 8081 on the overlay addresses',
    });
  });

  it('reach: the daemon’s own probes list unreachable peers; --no-probe skips the doctor’s', async () => {
    const d = { ...daemonState(), peerHealth: { enabled: true, intervalSeconds: 60, peersProbed: 2, rounds: 9, unreachable: [{ node: 'c', subnet: '10.244.3.0/24', addr: '10.244.3.0', since: '2026-11-30T00:05:00.000Z', reason: 'no answer' }] } };
    const g = gathered({ daemon: { ok: true, value: d }, doctor: { ...gathered().doctor, probe: false } });
    const r = await checkReach(g, deriveModel(g), { probe: undefined, httpGet: async () => ({ status: 200 }) }, { timeoutMs: 10, attempts: 1 });
    expect(r.checks.map((c) => [c.id, c.status, c.evidence])).toEqual([
      ['reach.overlay', 'skip', 'probes off (--no-probe)'],
      ['reach.mtu', 'skip', 'probes off (--no-probe)'],
      ['reach.peer-daemons', 'skip', 'probes off (--no-probe)'],
      ['reach.peer-health', 'warn', 'flanneld\'s own probes (every 60 s) find unreachable: "c" since 2026-11-30T00:05:00.000Z'],
    ]);
  });

  it('without the daemon, the files and the API stand in: the lease from the API, peers from annotations', async () => {
    const g = gathered({ daemon: { ok: false, error: 'ECONNREFUSED' } });
    const m = deriveModel(g);
    expect(m.own?.source).toBe('API');
    expect(m.peersSource).toBe('API');
    expect(m.configSource).toBe('net-conf.json');
    expect(m.backendMtu).toBe(1450);
    const cs = await all(g);
    expect(notOk(cs)).toEqual(['daemon.running: no answer from flanneld: ECONNREFUSED; checking the node from files, the API and the kernel alone']);
  });
});
