import { request } from 'node:http';
import type { ProbeFn } from '../../probe/icmp.ts';
import { checkPath, mapLimit, type PathCheck } from '../../probe/path-mtu.ts';
import { enabledFamilies } from '../../ip/cidr.ts';
import { overlayTargets, type PeerTarget } from '../../probe/targets.ts';
import { count, fail, listNames, ok, skip, warn, type Check } from '../check.ts';
import type { Gathered } from '../facts.ts';
import type { Model } from '../model.ts';

export interface ReachIo {
  /** One ICMP echo with DF; undefined when no prober could be opened (reason in `probeError`). */
  readonly probe: ProbeFn | undefined;
  readonly probeError?: string;
  /** GET url, resolving with the status or the error code. */
  readonly httpGet: (url: string, timeoutMs: number) => Promise<{ status: number } | { error: string }>;
}

export interface PeerProbe extends PeerTarget {
  readonly path: PathCheck;
  /** GET /healthz on the peer's overlay address: its status, or why it did not answer. */
  readonly daemon?: { status: number } | { error: string };
}

/** Probes results, kept for the bundle. */
export interface ReachResult {
  readonly checks: Check[];
  readonly probes: readonly PeerProbe[];
}

/** Concurrent peers; each waits up to attempts × timeout, so 5000 peers take a few seconds. */
const CONCURRENCY = 32;

/**
 * The checklist's last step done for every peer: an ICMP echo through the overlay, a DF probe at
 * the pod MTU (the largest size that passes when it does not), and the peer's flanneld /healthz
 * through the overlay when the health listener binds every address (the manifest's default).
 */
export async function checkReach(g: Gathered, m: Model, io: ReachIo, opts: { timeoutMs: number; attempts: number }): Promise<ReachResult> {
  const r = await probePeers(g, m, io, opts);
  const health = peerHealth(g, m);
  return health === undefined ? r : { checks: [...r.checks, health], probes: r.probes };
}

async function probePeers(g: Gathered, m: Model, io: ReachIo, opts: { timeoutMs: number; attempts: number }): Promise<ReachResult> {
  const ids = ['reach.overlay', 'reach.mtu', 'reach.peer-daemons'] as const;
  const none = (why: string): ReachResult => ({ checks: ids.map((id) => skip(id, why)), probes: [] });
  if (!g.doctor.probe) return none('probes off (--no-probe)');
  if (m.backend === undefined || m.backendMtu === undefined) return none('backend or MTU unknown');
  if (m.peersSource === 'none') return none('no peer list');
  if (io.probe === undefined) return none(`cannot probe: ${io.probeError ?? 'no ICMP socket'}`);
  const probe = io.probe;
  // Each family's overlay address of every peer, whatever backend it advertises (the node reaches
  // each the way it advertises): a dual-stack peer is probed twice (ICMP and ICMPv6).
  const families = enabledFamilies(m.families);
  const backendType = m.backend.type;
  const targets = families.flatMap((f) => overlayTargets(m.leases, undefined, f));
  if (targets.length === 0) return { checks: [ok(ids[0], 'no peers to probe'), ok(ids[1], 'no peers to probe'), ok(ids[2], 'no peers to ask')], probes: [] };

  const healthPort = g.settings.healthzPort;
  const healthIp = g.settings.healthzIP;
  // A peer's health listener (configured as this node's) answers on overlay addresses when it
  // binds every address: 0.0.0.0 takes IPv4 alone, :: both families.
  const listensEverywhere = (addr: string): boolean => healthPort > 0 && (healthIp === '::' || healthIp === '' || (healthIp === '0.0.0.0' && !addr.includes(':')));
  const podMtu = m.backendMtu;
  const probes = await mapLimit(targets, CONCURRENCY, async (t): Promise<PeerProbe> => {
    const path = await checkPath(probe, t.addr, podMtu, opts);
    if (!path.reachable || !listensEverywhere(t.addr)) return { ...t, path };
    const host = t.addr.includes(':') ? `[${t.addr}]` : t.addr;
    return { ...t, path, daemon: await io.httpGet(`http://${host}:${healthPort}/healthz`, Math.max(2000, opts.timeoutMs)) };
  });
  // Counted by address on a dual-stack node ("4 peer addresses"), by peer otherwise, as before.
  const noun = families.length > 1 ? 'peer address' : 'peer';
  const nouns = families.length > 1 ? 'peer addresses' : 'peers';
  const echo = families.length > 1 ? 'an ICMP or ICMPv6 echo' : families[0] === 'ipv6' ? 'an ICMPv6 echo' : 'an ICMP echo';
  // IPv6 has no DF bit: its probes go out unfragmented, which is the same test.
  const df = families.length === 1 && families[0] === 'ipv6' ? 'unfragmented' : 'with DF';
  const label = (p: PeerProbe): string => `"${p.node}" (${p.addr})`;

  const checks: Check[] = [];
  const down = probes.filter((p) => !p.path.reachable);
  const rtts = probes.flatMap((p) => (p.path.rttMs === undefined ? [] : [p.path.rttMs]));
  const rttText = rtts.length === 0 ? '' : `, round trip ≤ ${Math.max(...rtts).toFixed(1)} ms`;
  if (down.length > 0) {
    checks.push(
      fail(
        ids[0],
        `${down.length} of ${count(probes.length, noun, nouns)} ${down.length === 1 ? 'does' : 'do'} not answer through the overlay: ${listNames(down.map((p) => `${label(p)}: ${p.path.detail ?? 'no answer'}`), 4)}`,
        m.backend.type === 'vxlan'
          ? 'check on both nodes: flanneld running, UDP 8472 allowed between the public IPs, the peer\'s flannel.1 up (run flanneld doctor there too)'
          : 'check on both nodes that flanneld runs and the path between their public IPs (run flanneld doctor there too)',
        down.map((p) => ({ node: p.node, subnet: p.subnet, addr: p.addr, detail: p.path.detail })),
      ),
    );
  } else {
    checks.push(ok(ids[0], `${probes.length === 1 ? `the 1 ${noun} answers` : `all ${probes.length} ${nouns} answer`} ${echo} through the overlay${rttText}`));
  }

  const up = probes.filter((p) => p.path.reachable);
  const small = up.filter((p) => !p.path.mtuPasses);
  // A peer of another backend (a cluster mid-migration) may sit behind a smaller device than this
  // node's pods were sized for: expected, and handled by path-MTU discovery (README, "Switching
  // backends"). A peer of the node's own backend behind a smaller path is a real misfit.
  const misfit = small.filter((p) => p.backendType === backendType);
  const smallText = `a ${podMtu}-byte packet ${df} (the pod MTU) does not reach ${listNames(small.map((p) => `${label(p)}: largest that passes ${p.path.largest}${p.path.detail !== undefined ? `, ${p.path.detail}` : ''}`), 4)}`;
  const smallData = small.map((p) => ({ node: p.node, largest: p.path.largest }));
  if (up.length === 0) checks.push(skip(ids[1], 'no peer answers'));
  else if (misfit.length > 0) {
    checks.push(fail(ids[1], smallText, 'the underlay path is smaller than the MTU flannel assumes: lower the MTU in net-conf.json (vxlan: underlay MTU − 50) or raise the underlay MTU', smallData));
  } else if (small.length > 0) {
    checks.push(
      warn(
        ids[1],
        `${smallText} (peers of another backend than this node's ${backendType})`,
        'expected while backends are mixed: TCP lowers its segment size on the "fragmentation needed" answers; once every node runs one backend, restart pods that send large packets so they get its MTU',
        smallData,
      ),
    );
  } else {
    checks.push(ok(ids[1], `a ${podMtu}-byte packet ${df} (the pod MTU) reaches ${up.length === 1 ? `the 1 answering ${noun}` : `all ${up.length} answering ${nouns}`}`));
  }

  if (!targets.some((t) => listensEverywhere(t.addr))) checks.push(skip(ids[2], `this node's health listener is ${healthPort > 0 ? `on ${healthIp} only` : 'off'}, so peers' are not assumed reachable`));
  else {
    const asked = up.filter((p) => p.daemon !== undefined);
    const silent = asked.filter((p) => !('status' in p.daemon!) || p.daemon.status !== 200);
    // The peer's kernel refusing the connection, or flanneld answering unhealthy, says flanneld is
    // not serving there; silence may as well be a firewall on the port.
    const down = silent.filter((p) => 'status' in p.daemon! || p.daemon!.error === 'ECONNREFUSED');
    const why = (p: PeerProbe): string => ('status' in p.daemon! ? `HTTP ${p.daemon.status}` : p.daemon!.error);
    const data = silent.map((p) => ({ node: p.node, addr: p.addr, answer: p.daemon }));
    const text = `the overlay reaches them, but flanneld does not answer :${healthPort}/healthz on ${listNames(silent.map((p) => `${label(p)}: ${why(p)}`), 4)}`;
    if (down.length > 0) {
      checks.push(fail(ids[2], text, 'a node whose flanneld is down keeps its old routes but follows no change (new nodes, moved leases): kubectl -n kube-flannel get pods -o wide, then its logs', data));
    } else if (silent.length > 0) {
      checks.push(warn(ids[2], text, `no answer at all: flanneld may be down there, or a firewall filters TCP ${healthPort} on the overlay addresses`, data));
    } else if (asked.length === 0) {
      checks.push(skip(ids[2], 'no peer answers'));
    } else {
      checks.push(ok(ids[2], `flanneld answers /healthz through the overlay on ${asked.length === 1 ? `the 1 answering ${noun}` : `all ${asked.length} answering ${nouns}`}`));
    }
  }

  return { checks, probes };
}

/** What the daemon's continuous probes found (no probe of the doctor's own). */
function peerHealth(g: Gathered, m: Model): Check | undefined {
  const d = g.daemon.ok ? g.daemon.value.peerHealth : undefined;
  if (d === undefined) return undefined;
  // A dual-stack node's flanneld probes each family of a peer: count and name addresses then.
  const dual = enabledFamilies(m.families).length > 1;
  if (d.enabled && d.unreachable.length > 0) {
    return (
      warn(
        'reach.peer-health',
        `flanneld's own probes (every ${d.intervalSeconds} s) find unreachable: ${listNames(d.unreachable.map((u) => `"${u.node}"${dual ? ` (${u.addr})` : ''} since ${u.since}`), 4)}`,
        'see reach.overlay for what the doctor saw now; flanneld logs each change by node name',
        d.unreachable,
      )
    );
  }
  return d.enabled
    ? ok('reach.peer-health', d.rounds === 0 ? `flanneld probes every peer every ${d.intervalSeconds} s; its first round is still to come` : `flanneld probes ${(dual ? count(d.peersProbed, 'peer address', 'peer addresses') : count(d.peersProbed, 'peer'))} every ${d.intervalSeconds} s: none unreachable`)
    : skip('reach.peer-health', d.error ?? 'flanneld runs with --peer-health-interval=0');
}

/** A small GET for /healthz of peers; never rejects. */
export function httpGet(url: string, timeoutMs: number): Promise<{ status: number } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: `no answer within ${timeoutMs} ms` })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}
