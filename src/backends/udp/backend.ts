/**
 * The udp backend: flannel0 TUN + UDP port 8285 forwarder, wire-compatible with upstream
 * flanneld's (pkg/backend/udp: udp_network_amd64.go and the C proxy in proxy_amd64.c), with
 * TSO/GSO/GRO offloads where the kernel has them.
 *
 * Kernel state it owns: the TUN device, its /32 address, and the route for the whole Network
 * via it. The device is not persistent, as upstream's: it vanishes with its address and route
 * when our process exits, so a node rolled back to upstream flanneld gets flannel0 and its
 * route, instead of flannel1 behind our dead flannel0's route (pkg/backend/udp/udp_network_amd64.go
 * ignores EEXIST on that route). A restart loses nothing by it: a TUN nobody reads drops
 * every packet anyway, persistent or not.
 * Every reconcile re-asserts all three (level-triggered); the drift monitor only makes that
 * happen sooner. A flannel0 deleted by hand while we hold it leaves our fd detached (reads
 * fail with EBADFD), so the reconcile opens the device afresh and keeps forwarding with the
 * same counters.
 */
import type { UdpConfig } from '../../config/types.ts';
import { formatCidr, formatIpv4, parseIpv4, type Ipv4Cidr } from '../../ip/ipv4.ts';
import { loadDatapath, TUN_F_CSUM, TUN_F_TSO4, type DatapathNative } from '../../native/datapath-native.ts';
import { AF_INET, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, type Link, type NetlinkChange } from '../../netlink/types.ts';
import type { UdpStats } from '../../observe/metrics.ts';
import type { Lease, LeaseAttrs } from '../../subnet/lease.ts';
import type { Backend, Desired, PeerFailure, ReconcileReport } from '../backend.ts';
import type { BackendContext } from '../context.ts';
import { DriftWatch } from '../reconcile/drift.ts';
import { UdpCounters } from './counters.ts';
import { UdpForwarder } from './forwarder.ts';
import { disableIpv6 } from './ipv6-off.ts';
import { RouteTable, type RouteEntry } from './route-table.ts';
import { errorText, isErrno } from '../../util/errors.ts';

/** 20 bytes of outer IPv4 header + 8 of UDP (upstream: iface MTU − 28). */
export const UDP_OVERHEAD = 28;
/** The name template upstream passes to TUNSETIFF; the kernel normally picks flannel0. */
export const TUN_TEMPLATE = 'flannel%d';
/** Requested socket buffers (the kernel doubles them): absorbs bursts of TSO output. */
const SOCKET_BUFFER = 8 << 20;

/** Before the forwarder starts, every count is zero. */
const NO_COUNTERS = new UdpCounters();

/** What tests and benches may change; the daemon uses the defaults. */
export interface UdpBackendOptions {
  /** The addon (default: loaded). */
  readonly native?: DatapathNative;
  /** false: no TUN/UDP offloads, to measure the plain path. */
  readonly offload?: boolean;
  /** The forwarder's yield threshold (udp-to-tun.ts YIELD_AFTER); 0 turns the yield off. */
  readonly yieldAfter?: number;
  /** Device name or template; default flannel%d (adopting an existing flannel0). */
  readonly tunName?: string;
}

export class UdpBackend implements Backend {
  readonly type = 'udp';
  readonly mtu: number;
  private readonly ctx: BackendContext;
  private readonly cfg: UdpConfig;
  private readonly opts: UdpBackendOptions;
  private readonly nat: DatapathNative;
  private tunFd = -1;
  private udpFd = -1;
  private tunName = '';
  /** ifindex of the device our fd is attached to; another index under our name means ours is gone. */
  private tunIndex = 0;
  private tunVnet = false;
  private own: Lease | undefined;
  private fwd: UdpForwarder | undefined;
  private readonly drift: DriftWatch;
  /** Log-once key for a failed IPv6 disable (the errno code). */
  private ipv6Warned = '';
  /** Subnet text → peer public IP text, as last reconciled. */
  private peers = new Map<string, string>();
  /** net-conf Network: the route via flannel0. */
  private readonly network: Ipv4Cidr;

  constructor(ctx: BackendContext, cfg: UdpConfig, opts: UdpBackendOptions = {}) {
    this.ctx = ctx;
    this.cfg = cfg;
    this.opts = opts;
    this.nat = opts.native ?? loadDatapath();
    this.mtu = ctx.ext.mtu - UDP_OVERHEAD;
    // Like upstream's, the udp backend carries IPv4 only; net-conf.json with IPv6 and udp is refused earlier.
    if (ctx.network === undefined || ctx.ipv6Network !== undefined) throw new Error('udp backend: carries IPv4 only; enable IPv4 and disable IPv6 in net-conf.json, or use vxlan or host-gw');
    this.network = ctx.network;
    this.drift = new DriftWatch(ctx.openMonitor);
  }

  /** The datapath's own counters (tests print them whole). */
  get counters(): UdpCounters | undefined {
    return this.fwd?.counters;
  }

  /** The datapath's counters in the metrics layer's shape, read at scrape time. */
  stats(): UdpStats {
    const c = this.fwd?.counters ?? NO_COUNTERS;
    return {
      packetsIn: c.rxPackets,
      packetsOut: c.txPackets,
      bytesIn: c.rxBytes,
      bytesOut: c.txBytes,
      drops: {
        'unknown-source': c.dropUnknownSource,
        malformed: c.dropMalformed,
        'not-for-us': c.dropNotForUs,
        'ttl-expired': c.dropTtlExpired,
        'no-route': c.dropNoRoute,
        'send-error': c.dropSend,
        'tun-write-error': c.dropTunWrite,
        'not-ipv4': c.dropTunNotIpv4,
      },
    };
  }

  get deviceName(): string {
    return this.tunName;
  }

  async prepare(_signal: AbortSignal): Promise<LeaseAttrs> {
    const { ext, log } = this.ctx;
    const { port } = this.cfg;
    const ifaceAddr = parseIpv4(ext.ifaceAddr ?? '');
    if (ifaceAddr === undefined) throw new Error(`udp backend: interface ${ext.name} address "${ext.ifaceAddr}" is not an IPv4 address`);
    const name = await this.deviceToOpen();
    const tun = this.openTun(name);
    this.tunFd = tun.fd;
    this.tunName = tun.name;
    this.tunVnet = tun.vnet;
    // Not persistent (see the top): also clears the flag on a flannel0 an older flannel-ts left.
    this.nat.tunSetPersist(tun.fd, 0);
    this.tunIndex = (await this.ctx.nl.linkByName(tun.name))?.index ?? 0;
    let sock;
    try {
      sock = this.nat.udpOpen(ifaceAddr, port, SOCKET_BUFFER, this.opts.offload !== false, this.opts.offload !== false);
    } catch (e) {
      throw new Error(`udp backend: cannot bind UDP ${ext.ifaceAddr}:${port}: ${errorText(e)}`, { cause: e });
    }
    this.udpFd = sock.fd;
    this.fwd = new UdpForwarder({
      nat: this.nat, log, tunFd: tun.fd, vnetHdr: tun.vnet, tunMtu: this.mtu,
      udpFd: sock.fd, gso: sock.gso, gro: sock.gro, port,
      ...(this.opts.yieldAfter !== undefined ? { yieldAfter: this.opts.yieldAfter } : {}),
    });
    const path = this.fwd.path;
    log.info({ device: tun.name, mtu: this.mtu, bind: `${ext.ifaceAddr}:${port}`, ...path, rcvbuf: sock.rcvbuf, sndbuf: sock.sndbuf }, 'udp backend: datapath ready');
    if (!path.tunOffload || !path.udpGso || !path.udpGro) {
      log.warn(path, 'udp backend: some offloads are unavailable; using the batched per-packet path for those');
    }
    return { publicIp: ext.extAddr ?? '', backendType: '', backendData: 'null' };
  }

  /** Adopt a TUN left by an earlier run (one that set it persistent); otherwise let the kernel pick from the template. */
  private async deviceToOpen(): Promise<string> {
    const want = this.opts.tunName ?? TUN_TEMPLATE;
    if (!want.includes('%d')) return want;
    const existing = await this.ctx.nl.linkByName(want.replace('%d', '0'));
    return existing !== undefined && existing.kind === 'tun' ? existing.name : want;
  }

  private openTun(name: string): { fd: number; name: string; vnet: boolean } {
    const log = this.ctx.log;
    const tryOpen = (vnet: boolean) => {
      try {
        return this.nat.tunOpen(name, vnet);
      } catch (e) {
        const hint = isErrno(e, 'EBUSY') ? ' (another process, e.g. upstream flanneld, holds it)' : isErrno(e, 'EPERM') ? ' (needs CAP_NET_ADMIN)' : '';
        throw new Error(`udp backend: cannot open TUN ${name}${hint}: ${errorText(e)}`, { cause: e });
      }
    };
    if (this.opts.offload !== false) {
      const t = tryOpen(true);
      try {
        this.nat.tunSetOffload(t.fd, TUN_F_CSUM | TUN_F_TSO4);
        return { ...t, vnet: true };
      } catch (e) {
        if (!isErrno(e)) throw e;
        log.warn({ errno: e.errno }, 'udp backend: TUN offload (TUNSETOFFLOAD) unavailable; falling back to per-packet reads');
        this.nat.closeFd(t.fd);
      }
    }
    return { ...tryOpen(false), vnet: false };
  }

  async configure(own: Lease, _signal: AbortSignal): Promise<void> {
    const { log } = this.ctx;
    const network = this.network;
    if (own.subnet === undefined) throw new Error('udp backend: the lease has no IPv4 subnet');
    this.own = own;
    await this.ensureDevice();
    // Upstream sources ICMP unreachables from the TUN address, but that address is local, so
    // the kernel drops them as martians on flannel0 and they never reach the pod. The Network
    // address (10.244.0.0, never leased: subnets start at SubnetMin) is not local and routes
    // back via flannel0, so the pod does get its ENETUNREACH. A deliberate difference.
    this.fwd!.setOwn(own.subnet.ip, own.subnet.prefixLen, network.ip);
    this.fwd!.start();
    log.info({ device: this.tunName, address: `${formatIpv4(own.subnet.ip)}/32`, route: `${formatCidr(network)} dev ${this.tunName}` }, 'udp backend: configured');
  }

  /**
   * flannel0 as it must be: attached to our fd, IPv6 off, the lease's /32 (and no other IPv4
   * address), MTU, up, and the Network route. Called by configure and by every reconcile.
   */
  private async ensureDevice(): Promise<void> {
    const { nl } = this.ctx;
    const own = this.own;
    if (own === undefined) return;
    let link = await nl.linkByName(this.tunName);
    if (link === undefined || link.index !== this.tunIndex) link = await this.reopenTun(link);
    const v6 = disableIpv6(this.tunName);
    if (v6 !== 'off' && v6 !== this.ipv6Warned) {
      this.ipv6Warned = v6;
      this.ctx.log.warn({ device: this.tunName, code: v6 }, 'udp backend: cannot disable IPv6 on the TUN device; its IPv6 packets are dropped and counted as dropTunNotIpv4');
    }
    if (own.subnet === undefined) return;
    const address = formatIpv4(own.subnet.ip);
    // Upstream adds <lease network IP>/32 and fails if present; we adopt it and drop stale leases' addresses.
    const addrs = await nl.addrList({ index: link.index, family: AF_INET });
    for (const a of addrs) {
      if (a.address !== address || a.prefixLen !== 32) await nl.addrDel(a);
    }
    if (!addrs.some((a) => a.address === address && a.prefixLen === 32)) {
      await nl.addrAdd({ index: link.index, family: AF_INET, address, prefixLen: 32 });
    }
    if (link.mtu !== this.mtu || !link.up) await nl.linkSet(link.index, { mtu: this.mtu, up: true });
    await this.ensureRoute(link.index);
  }

  /**
   * Our device was deleted (our fd is detached: reads fail with EBADFD) or replaced. Opens
   * the name afresh with the same offloads and hands the new fd to the running forwarder.
   */
  private async reopenTun(found: Link | undefined): Promise<Link> {
    const { nl, log } = this.ctx;
    if (found !== undefined && found.kind !== 'tun') {
      throw new Error(`udp backend: ${this.tunName} is now a ${found.kind || 'non-TUN'} device (index ${found.index}), not our TUN; delete it so flannel can re-create it`);
    }
    // Synchronous from open to hand-over: no await may let the packet loop write to a closed
    // fd number the kernel could already have given to something else.
    const t = this.nat.tunOpen(this.tunName, this.tunVnet);
    try {
      if (this.tunVnet) this.nat.tunSetOffload(t.fd, TUN_F_CSUM | TUN_F_TSO4);
    } catch (e) {
      this.nat.closeFd(t.fd);
      throw new Error(`udp backend: setting up the re-created ${t.name} failed: ${errorText(e)}`, { cause: e });
    }
    this.fwd?.replaceTun(t.fd);
    if (this.tunFd >= 0) this.nat.closeFd(this.tunFd);
    this.tunFd = t.fd;
    const link = await nl.linkByName(t.name);
    if (link === undefined) throw new Error(`udp backend: ${t.name} vanished right after it was opened`);
    this.tunIndex = link.index;
    log.warn({ device: t.name, index: link.index, previous: found?.index ?? null }, 'udp backend: TUN device was deleted; re-created it');
    return link;
  }

  /** `ip route replace <Network> dev flannel0` (scope universe, no gateway). */
  private async ensureRoute(index: number): Promise<void> {
    await this.ctx.nl.routeReplace({ family: AF_INET, dst: formatCidr(this.network), oif: index, scope: RT_SCOPE_UNIVERSE });
  }

  async reconcile(desired: Desired, _signal: AbortSignal): Promise<ReconcileReport> {
    const t0 = performance.now();
    const entries: RouteEntry[] = [];
    const next = new Map<string, string>();
    const failed: PeerFailure[] = [];
    for (const [key, lease] of desired.peers) {
      const hop = parseIpv4(lease.attrs.publicIp ?? '');
      if (lease.subnet === undefined || hop === undefined || hop === 0) {
        failed.push({ subnet: key, ...(lease.node !== undefined ? { node: lease.node } : {}), error: new Error(`lease ${key}: public IP "${lease.attrs.publicIp}" is not an IPv4 address`) });
        continue;
      }
      entries.push({ subnet: lease.subnet, hop });
      next.set(key, lease.attrs.publicIp!);
    }
    let created = 0, replaced = 0, unchanged = 0, deleted = 0;
    for (const [k, v] of next) {
      const was = this.peers.get(k);
      if (was === undefined) created++;
      else if (was !== v) replaced++;
      else unchanged++;
    }
    for (const k of this.peers.keys()) if (!next.has(k)) deleted++;
    // Datagrams are accepted from every peer that may send with udp, not only those we send to.
    const sources: number[] = [];
    for (const lease of (desired.senders ?? desired.peers).values()) {
      const ip = parseIpv4(lease.attrs.publicIp ?? '');
      if (ip !== undefined && ip !== 0) sources.push(ip);
    }
    this.fwd?.setRoutes(RouteTable.build(entries, sources));
    this.peers = next;
    // Level-triggered: re-assert the device, its address and the Network route — on full runs;
    // a run for lease events only changes the table (the drift monitor asks for a full run when
    // the device changes). The table is rebuilt whole, never edited under the packet loop.
    if (desired.changed === undefined) await this.ensureDevice();
    return { generation: desired.generation, created, replaced, deleted, unchanged, failed, ms: performance.now() - t0 };
  }

  watchDrift(kick: (why: string) => void, signal: AbortSignal): void {
    this.drift.start((c) => this.driftReason(c), kick, signal);
  }

  /** Which notifications mean flannel0, its address or the Network route changed behind our back. */
  private driftReason(c: NetlinkChange): string | undefined {
    switch (c.kind) {
      case 'link':
        if (c.link.index !== this.tunIndex && c.link.name !== this.tunName) return undefined;
        if (c.deleted) return c.link.index === this.tunIndex ? `${this.tunName} deleted` : undefined;
        if (c.link.index !== this.tunIndex) return `${this.tunName} re-created by someone else`;
        return c.link.mtu !== this.mtu || !c.link.up ? `${this.tunName} changed` : undefined;
      case 'addr':
        return c.deleted && c.addr.family === AF_INET && c.addr.index === this.tunIndex ? `address ${c.addr.address} removed from ${this.tunName}` : undefined;
      case 'route': {
        if (c.route.family !== AF_INET || c.route.dst !== formatCidr(this.network)) return undefined;
        if (c.deleted) return c.route.oif === this.tunIndex ? `route ${c.route.dst} deleted` : undefined;
        // Rewritten in place (`ip route replace`) announces no deletion; ours always names flannel0.
        return c.route.oif !== this.tunIndex && (c.route.table ?? RT_TABLE_MAIN) === RT_TABLE_MAIN ? `route ${c.route.dst} moved to another device` : undefined;
      }
      default:
        return undefined;
    }
  }

  /** flannel0 with its address and route; udp owns no per-peer route, so `foreignRoutes` changes nothing. */
  async teardown(_foreignRoutes?: ReadonlySet<string>): Promise<void> {
    this.fwd?.stop();
    try {
      if (this.tunFd >= 0) this.nat.tunSetPersist(this.tunFd, 0);
    } catch (e) {
      if (!isErrno(e)) throw e; // a detached fd (device already deleted): the link check below covers it
    }
    await this.close();
    // A device left by an earlier run (we never opened it in this process).
    const name = this.tunName !== '' ? this.tunName : (this.opts.tunName ?? TUN_TEMPLATE).replace('%d', '0');
    const link = await this.ctx.nl.linkByName(name);
    if (link !== undefined && link.kind === 'tun') await this.ctx.nl.linkDel(link.index);
  }

  async close(): Promise<void> {
    this.drift.close();
    this.fwd?.stop();
    if (this.udpFd >= 0) this.nat.closeFd(this.udpFd);
    if (this.tunFd >= 0) this.nat.closeFd(this.tunFd);
    this.udpFd = -1;
    this.tunFd = -1;
  }
}
