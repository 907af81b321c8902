/**
 * `flanneld doctor` and continuous peer health, vxlan, one lab of 3 nodes (issue 12). The tests
 * run in order and build on each other, one lab for all (a lab takes seconds to build):
 *  1. a healthy node: every check ok, exit 0; /debug/state only on the node; the bundle's files,
 *     and no token, no kubeconfig in it;
 *  2. --vxlan-csum-offload: auto leaves tx-checksum-ip-generic on on this kernel, off turns it off
 *     (ethtool -k), and the doctor and flannel_config_info show it;
 *  3. faults the daemon does not repair, made by hand on node0 while its daemon runs: a pod with
 *     the wrong MTU, bridge-nf-call-iptables=0, a missing CNI plugin, a cni0 address from
 *     another subnet;
 *  4. a peer whose flanneld is stopped (named), then unreachable (its flannel.1 gone, as after
 *     a reboot without flanneld): named by the doctor, and by node0's own peer health once,
 *     in the log, on /debug/state and in the metrics, and back when it returns;
 *  5. a peer advertising another node's public-ip;
 *  6. with node0's daemon stopped (it would repair them within a second): a deleted route to
 *     one peer, a stale FDB entry to a dead MAC, FORWARD policy DROP without the accept rules.
 * Each fault is asserted by its check's verdict and evidence in --json; the rest of a node's
 * report may carry the earlier faults.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fetchIn } from '../../lab/apiserver-process.ts';
import { nodeCniDirs } from '../../lab/cni-install.ts';
import { runDoctor } from '../../lab/doctor.ts';
import { run } from '../../lab/harness/exec.ts';
import type { DaemonDebugState } from '../../src/doctor/daemon-state.ts';
import { eventually, HEALTH_PORT, logRecords, PREFIX, sample, scrape } from './daemon-helpers.ts';
import { check, doctorReport, notOk } from './doctor-helpers.ts';
import { daemonLabSkip, useLab } from './harness.ts';

const { skip, why } = daemonLabSkip;

describe.skipIf(skip)(`flanneld doctor and peer health, vxlan${skip ? ` (skipped: ${why})` : ''}`, () => {
  const lab = useLab({ nodes: 3, backend: 'vxlan' });

  const doctor = (i: number, extra: readonly string[] = []) => doctorReport(lab(), i, extra);
  const state = async (i: number): Promise<DaemonDebugState> => {
    const r = await lab().node(i).http('/debug/state', HEALTH_PORT);
    expect(r.status).toBe(200);
    return JSON.parse(r.body) as DaemonDebugState;
  };
  const waitReady = (i: number) => eventually(async () => expect((await lab().node(i).http('/readyz', HEALTH_PORT)).status).toBe(200), 30_000);

  it('a healthy node: every check ok, exit 0, and the table ends with the verdict', async () => {
    // Every node programmed: the probes' answers come back over the peers' own entries.
    for (const i of [0, 1, 2]) await waitReady(i);
    const { code, report } = await doctor(0);
    expect(notOk(report)).toEqual([]);
    expect(code).toBe(0);
    expect(report).toMatchObject({ node: lab().node(0).name, backend: 'vxlan', lease: '10.244.1.0/24', peers: 2, exitCode: 0 });
    expect(check(report, 'datapath.peers').evidence).toBe('2 peers, each with its route, neighbour and FDB entry, as their annotations say (from the API)');
    expect(check(report, 'reach.mtu').evidence).toBe('a 1450-byte packet with DF (the pod MTU) reaches all 2 answering peers');
    const table = await runDoctor(lab().state, 0);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ok +datapath\.peers +2 peers, each with its route/m);
    expect(table.stdout.trimEnd().split('\n').at(-1)).toMatch(/^0 fail, 0 warn, \d+ ok, 0 skipped: exit 0$/);
  });

  it('/debug/state answers on the node itself, and 403 to a pod', async () => {
    const s = await state(0);
    expect(s).toMatchObject({ schema: 1, lease: { subnet: '10.244.1.0/24', publicIp: '198.18.0.10', backendType: 'vxlan' }, backend: { type: 'vxlan', mtu: 1450 } });
    expect(s.peers.map((p) => p.node)).toEqual([lab().node(1).name, lab().node(2).name]);
    expect(s.logTail.some((l) => l.includes('flannel is ready'))).toBe(true);
    const fromPod = await fetchIn(lab().pod(0, 0).netns, 'GET', `http://10.244.1.1:${HEALTH_PORT}/debug/state`);
    expect(fromPod.status).toBe(403);
    // The probes still answer everyone.
    expect((await fetchIn(lab().pod(0, 0).netns, 'GET', `http://10.244.1.1:${HEALTH_PORT}/healthz`)).status).toBe(200);
  });

  it('--bundle writes the evidence as tar.gz, without the kubeconfig or any token', async () => {
    const s = lab().state;
    const dir = join(tmpdir(), `doctor-bundle-${s.prefix}`);
    rmSync(dir, { recursive: true, force: true });
    const bundle = `${dir}.tar.gz`;
    // A kubeconfig with a token (the double ignores it) and a CNI file holding one: neither may leak.
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06Zmxhbm5lbCJ9.c2VjcmV0LXNpZ25hdHVyZS1mb3ItdGVzdA';
    const kc = JSON.parse(readFileSync(s.kubeconfig!, 'utf8')) as { users: { user: Record<string, string> }[] };
    kc.users[0]!.user['token'] = token;
    const kubeconfig = join(s.runDir, 'kubeconfig-with-token');
    writeFileSync(kubeconfig, JSON.stringify(kc), { mode: 0o600 });
    const cni = nodeCniDirs(join(s.runDir, s.nodes[0]!.name));
    writeFileSync(join(cni.confDir, '99-other.conflist'), JSON.stringify({ name: 'other', plugins: [{ type: 'other', token: 'plain-secret-value', kubeconfig: '/etc/cni/net.d/other-kubeconfig' }] }));
    try {
      const r = await runDoctor(s, 0, ['--bundle', bundle, '--kubeconfig-file', kubeconfig]);
      expect(r.code).toBe(0);
      mkdirSync(dir, { recursive: true });
      await run(['tar', '-xzf', bundle, '-C', dir]);
      const [top] = readdirSync(dir);
      expect(top).toMatch(new RegExp(`^flannel-doctor-${s.nodes[0]!.name}-\\d{8}T\\d{6}Z$`));
      const files = (await run(['find', join(dir, top!), '-type', 'f', '-printf', '%P\\n'])).stdout.trim().split('\n').sort();
      expect(files).toEqual([
        'api/nodes.json',
        'cni/bin.txt',
        'cni/net.d/10-flannel.conflist',
        'cni/net.d/99-other.conflist',
        'daemon/log.txt',
        'daemon/settings.json',
        'daemon/state.json',
        'files/net-conf.json',
        'files/subnet.env',
        'kernel/addresses.json',
        'kernel/fdb.json',
        'kernel/links.json',
        'kernel/neighbours.json',
        'kernel/routes.json',
        'kernel/sysctl.txt',
        'kernel/version.txt',
        'probes.json',
        'report.json',
        'report.txt',
        'rules/ip6tables-legacy-save.txt',
        'rules/ip6tables-nft-save.txt',
        'rules/ip6tables-save.txt',
        'rules/iptables-legacy-save.txt',
        'rules/iptables-nft-save.txt',
        'rules/iptables-save.txt',
        'rules/nft-ruleset.txt',
      ]);
      const all = files.map((f) => readFileSync(join(dir, top!, f), 'utf8')).join('\n');
      expect(all).not.toContain(token);
      expect(all).not.toContain('plain-secret-value');
      expect(all).not.toContain('insecure-skip-tls-verify'); // the kubeconfig's contents
      expect(all).toContain(kubeconfig); // named by path only
      // The evidence is there: the peers' FDB entries and flannel's rules.
      const fdb = JSON.parse(readFileSync(join(dir, top!, 'kernel/fdb.json'), 'utf8')) as { ip?: string }[];
      expect(fdb.map((f) => f.ip)).toEqual(expect.arrayContaining(['198.18.0.11', '198.18.0.12']));
      expect(readFileSync(join(dir, top!, 'rules/iptables-save.txt'), 'utf8')).toContain('-A FLANNEL-POSTRTG');
      expect(JSON.parse(readFileSync(join(dir, top!, 'probes.json'), 'utf8'))).toHaveLength(2);
      expect(readFileSync(join(dir, top!, 'daemon/log.txt'), 'utf8')).toContain('flannel is ready');
    } finally {
      rmSync(join(cni.confDir, '99-other.conflist'), { force: true });
      rmSync(dir, { recursive: true, force: true });
      rmSync(bundle, { force: true });
    }
  });

  it('--vxlan-csum-offload: auto leaves tx checksum offload on on this kernel, off turns it off', async () => {
    const ethtool = async (i: number): Promise<string> =>
      /^\s*tx-checksum-ip-generic: (\S+)/m.exec((await lab().node(i).exec(['ethtool', '-k', 'flannel.1'])).stdout)?.[1] ?? '?';
    expect(await ethtool(0)).toBe('on');
    expect(check((await doctor(0, ['--no-probe'])).report, 'datapath.csum-offload')).toMatchObject({ status: 'ok' });
    let info = (await scrape(lab().node(0))).samples.find((x) => x.name === 'flannel_config_info');
    expect(info?.labels['vxlan_csum_offload']).toBe('on');

    await lab().stopDaemon(1);
    await lab().startDaemon(1, { extraArgs: ['--vxlan-csum-offload=off'] });
    await eventually(async () => expect(await ethtool(1)).toBe('off'));
    await waitReady(1);
    info = (await scrape(lab().node(1))).samples.find((x) => x.name === 'flannel_config_info');
    expect(info?.labels).toEqual({ network: '10.244.0.0/16', backend: 'vxlan', nftables: 'false', iptables: 'nft', vxlan_csum_offload: 'off' });
    const { code, report } = await doctor(1);
    expect(check(report, 'datapath.csum-offload')).toEqual({
      id: 'datapath.csum-offload',
      status: 'ok',
      evidence: expect.stringMatching(/has the VXLAN checksum fix \(5\.7\+\); flannel\.1 tx-checksum-ip-generic off; flanneld --vxlan-csum-offload=off keeps it off$/),
    });
    // Traffic still flows with the offload off.
    expect(notOk(report)).toEqual([]);
    expect(code).toBe(0);
    // A hand-made change is put back by the next reconcile.
    await lab().node(1).exec(['ethtool', '-K', 'flannel.1', 'tx-checksum-ip-generic', 'on']);
    await eventually(async () => expect(await ethtool(1)).toBe('off'), 20_000);
    // The correction's own notification costs one more run, not a loop of them.
    const runs = async (): Promise<number | undefined> => (await scrape(lab().node(1))).samples.find((x) => x.name === 'flannel_reconcile_runs_total')?.value;
    await new Promise((r) => setTimeout(r, 1000));
    const settled = await runs();
    await new Promise((r) => setTimeout(r, 2000));
    expect(await runs()).toBe(settled);
  });

  it('finds faults the daemon does not repair: pod MTU, bridge-nf-call-iptables, a missing CNI plugin, a foreign cni0 address', async () => {
    const n = lab().node(0);
    // The node talks to its pod once, so cni0 knows the pod's address and port (the evidence names it).
    await n.exec(['ping', '-c1', '-W1', lab().pod(0, 0).ip]);
    const veth = (JSON.parse((await n.exec(['ip', '-j', 'link', 'show', 'master', 'cni0'])).stdout) as { ifname: string }[])[0]!.ifname;
    // A pod created with the wrong MTU has it on both ends of its veth.
    await n.exec(['ip', 'link', 'set', veth, 'mtu', '1500']);
    await lab().pod(0, 0).exec(['ip', 'link', 'set', 'eth0', 'mtu', '1500']);
    await n.exec(['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0']);
    const bin = nodeCniDirs(join(lab().state.runDir, n.name)).binDir;
    rmSync(join(bin, 'portmap'));
    await n.exec(['ip', 'addr', 'add', '10.244.9.1/24', 'dev', 'cni0']);

    const { code, report } = await doctor(0, ['--no-probe']);
    expect(code).toBe(2);
    expect(check(report, 'datapath.mtu')).toMatchObject({
      status: 'fail',
      evidence: `pod MTU must be ≤ eth0 1500 − 50 (vxlan) = 1450: cni0 mtu 1500, pod interface ${veth} (pod ${lab().pod(0, 0).ip}) mtu 1500`,
    });
    expect(check(report, 'datapath.br-netfilter')).toMatchObject({ status: 'fail', evidence: expect.stringContaining('net.bridge.bridge-nf-call-iptables = 0') });
    expect(check(report, 'files.cni-bin')).toMatchObject({ status: 'fail', evidence: `${join(bin, 'portmap')}: ENOENT`, data: ['portmap'] });
    expect(check(report, 'files.cni0')).toMatchObject({ status: 'fail', evidence: expect.stringMatching(/^cni0 has 10\.244\.9\.1\/24 besides 10\.244\.1\.1\/24 \(from another podCIDR/) });
    // Nothing else is blamed.
    expect(notOk(report).filter((l) => !/^(datapath\.mtu|datapath\.br-netfilter|files\.cni-bin|files\.cni0|reach\.)/.test(l))).toEqual([]);
  });

  it('a peer whose flanneld is stopped is named; unreachable once its flannel.1 is gone, also by the daemon’s own probes, logged once', async () => {
    const peer = lab().node(2);
    // node0 probes every second from here on (the default is every 60 s).
    await lab().stopDaemon(0);
    await lab().startDaemon(0, { extraArgs: ['--peer-health-interval=1'] });
    await waitReady(0);
    await eventually(async () => expect((await state(0)).peerHealth).toMatchObject({ enabled: true, peersProbed: 2, unreachable: [] }));

    await lab().stopDaemon(2);
    let { report } = await doctor(0);
    expect(check(report, 'reach.overlay').status).toBe('ok');
    expect(check(report, 'reach.peer-daemons')).toMatchObject({
      status: 'fail',
      evidence: `the overlay reaches them, but flanneld does not answer :8081/healthz on "${peer.name}" (10.244.3.0): ECONNREFUSED`,
    });

    // As after a reboot whose flanneld never came back: no flannel.1 on the peer.
    await peer.exec(['ip', 'link', 'del', 'flannel.1']);
    ({ report } = await doctor(0));
    expect(check(report, 'reach.overlay')).toMatchObject({
      status: 'fail',
      evidence: `1 of 2 peers does not answer through the overlay: "${peer.name}" (10.244.3.0): no answer within 1000 ms`,
    });
    await eventually(async () => expect((await state(0)).peerHealth.unreachable.map((u) => [u.node, u.addr])).toEqual([[peer.name, '10.244.3.0']]), 20_000);
    let m = (await scrape(lab().node(0))).samples;
    expect(sample(m, 'flannel_peer_health_unreachable_peers')).toBe(1);
    expect(sample(m, 'flannel_peer_health_peers_probed')).toBe(2);
    expect(sample(m, 'flannel_peer_health_transitions_total', { to: 'unreachable' })).toBe(1);
    // Several rounds later, still one line about it.
    const rounds = (await state(0)).peerHealth.rounds;
    await eventually(async () => expect((await state(0)).peerHealth.rounds).toBeGreaterThanOrEqual(rounds + 3), 30_000);
    const lines = () => logRecords(lab().node(0)).filter((r) => r['peer'] === peer.name).map((r) => String(r['msg']));
    expect(lines()).toEqual([`peer ${peer.name} (10.244.3.0/24, overlay address 10.244.3.0) is unreachable through the overlay: no answer within 1000 ms (3 probes in a row)`]);
    const { report: again } = await doctor(0, ['--no-probe']);
    expect(check(again, 'reach.peer-health')).toMatchObject({
      status: 'warn',
      evidence: expect.stringMatching(new RegExp(`^flanneld's own probes \\(every 1 s\\) find unreachable: "${peer.name}" since \\d{4}-`)),
    });

    // Back: its flanneld re-creates flannel.1.
    await lab().startDaemon(2);
    await eventually(async () => expect((await state(0)).peerHealth.unreachable).toEqual([]), 30_000);
    m = (await scrape(lab().node(0))).samples;
    expect(sample(m, 'flannel_peer_health_unreachable_peers')).toBe(0);
    expect(sample(m, 'flannel_peer_health_transitions_total', { to: 'reachable' })).toBe(1);
    expect(lines()).toEqual([
      `peer ${peer.name} (10.244.3.0/24, overlay address 10.244.3.0) is unreachable through the overlay: no answer within 1000 ms (3 probes in a row)`,
      `peer ${peer.name} (10.244.3.0/24, overlay address 10.244.3.0) is reachable through the overlay again`,
    ]);
    expect(sample(m, 'flannel_peer_health_probes_total', { result: 'answered' })).toBeGreaterThan(0);
  });

  it('a peer advertising another node’s public-ip', async () => {
    const [n1, n2] = [lab().node(1), lab().node(2)];
    // Its flanneld would publish its own address again.
    await lab().stopDaemon(2);
    const r = await lab().api('PATCH', `/api/v1/nodes/${n2.name}`, { metadata: { annotations: { [`${PREFIX}public-ip`]: n1.underlayIp } } }, 'application/strategic-merge-patch+json');
    expect(r.status).toBe(200);
    // node0's flanneld follows the annotation (its view and its kernel then agree with the API).
    await eventually(async () => expect((await state(0)).peers.find((p) => p.node === n2.name)?.publicIp).toBe(n1.underlayIp));
    const { code, report } = await doctor(0, ['--no-probe']);
    expect(code).toBe(2);
    expect(check(report, 'lease.public-ip')).toMatchObject({
      status: 'fail',
      evidence: `${n1.underlayIp} is advertised by "${n1.name}" and "${n2.name}"`,
      data: [{ ip: n1.underlayIp, nodes: [n1.name, n2.name] }],
    });
  });

  it('with node0’s daemon stopped: a deleted route to one peer, a stale FDB entry to a dead MAC, FORWARD DROP without the accept rules', async () => {
    const n = lab().node(0);
    const peer = lab().node(1);
    await lab().stopDaemon(0);
    await n.exec(['ip', 'route', 'del', peer.podCidr]);
    await n.exec(['bridge', 'fdb', 'append', '02:00:de:ad:be:ef', 'dev', 'flannel.1', 'dst', '198.18.0.99', 'self', 'permanent']);
    await n.exec(['iptables', '-P', 'FORWARD', 'DROP']);
    await n.exec(['iptables', '-D', 'FORWARD', '-m', 'comment', '--comment', 'flanneld forward', '-j', 'FLANNEL-FWD']);

    const { code, report } = await doctor(0, ['--no-probe']);
    expect(code).toBe(2);
    expect(check(report, 'daemon.running')).toMatchObject({ status: 'fail', evidence: expect.stringContaining('ECONNREFUSED') });
    expect(check(report, 'datapath.peers')).toMatchObject({
      status: 'fail',
      evidence: `1 entry for 2 peers is wrong: "${peer.name}": route ${peer.podCidr} via 10.244.2.0 dev flannel.1 onlink missing`,
    });
    expect(check(report, 'datapath.stale')).toMatchObject({ status: 'warn', evidence: '1 entry belongs to no peer: fdb 02:00:de:ad:be:ef dst 198.18.0.99' });
    // What `ip route get` says for that peer: no way there (the lab has no default route).
    expect(check(report, 'datapath.path')).toMatchObject({ status: 'fail', evidence: expect.stringMatching(new RegExp(`^ip route get: "${peer.name}" \\(10\\.244\\.2\\.0\\): .*ENETUNREACH`)) });
    expect(check(report, 'datapath.forward')).toMatchObject({
      status: 'fail',
      evidence: 'iptables-nft FORWARD policy DROP and no rule accepts 10.244.0.0/16: pod traffic between nodes is dropped',
    });
    // Without the daemon, the files and the API still tell what the node should be.
    expect(check(report, 'files.subnet-env').status).toBe('ok');
    expect(check(report, 'datapath.masquerade').status).toBe('ok');
    expect(check(report, 'datapath.device').status).toBe('ok');
    expect(existsSync(n.subnetFile)).toBe(true);
  });
});
