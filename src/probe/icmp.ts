import { getSystemErrorName } from 'node:util';
import { formatIpv4, parseIpv4 } from '../ip/ipv4.ts';
import { formatIpv6, parseIpv6 } from '../ip/ipv6.ts';
import { errorText } from '../util/errors.ts';
import { loadDatapath, POLL_READABLE, type PollHandle } from '../native/datapath-native.ts';
import { loadNodecheck, type NodecheckNative } from '../native/nodecheck-native.ts';
import { describeIcmpError, ICMP_FRAG_NEEDED, ICMP_DEST_UNREACH, MAX_PROBE_BYTES, parseIcmpPacket, writeEchoRequest } from './packet.ts';
import { describeIcmp6Error, ICMP6_PACKET_TOO_BIG, parseIcmp6Message, writeEcho6Request } from './packet6.ts';

/** One probe's outcome. `size` is the IP packet size that was sent. */
export type ProbeResult =
  | { readonly ok: true; readonly size: number; readonly rttMs: number }
  | {
      readonly ok: false;
      readonly size: number;
      /** timeout: no answer; icmp-error: a router or the peer refused; send-error: the local kernel refused. */
      readonly reason: 'timeout' | 'icmp-error' | 'send-error';
      /** What happened, in ping's words: 'no answer within 1000 ms', 'frag needed and DF set (mtu = 1400)', 'EMSGSIZE'. */
      readonly detail: string;
      /** A path MTU the answer revealed (frag needed), else undefined. */
      readonly mtu?: number;
    };

/** What the probers need from a socket: one echo with DF at `size` bytes, answered or not. */
export type ProbeFn = (dst: string, size: number, timeoutMs: number) => Promise<ProbeResult>;

interface Pending {
  /** The probed address: an IPv4 address as uint32, an IPv6 one as 32 hex digits. */
  readonly dst: number | string;
  readonly size: number;
  readonly sentAt: number;
  readonly timer: NodeJS.Timeout;
  readonly resolve: (r: ProbeResult) => void;
}

/**
 * ICMP echo with DF over a raw socket (the kernel adds the IP header; DF is always set, see
 * native/src/nodecheck.c), and ICMPv6 echo without fragments for IPv6 addresses over a second
 * raw socket, opened at the first IPv6 probe. Many probes may be in flight; replies are matched
 * by the prober's random echo id and a per-probe sequence number (shared by both families),
 * since a raw socket also sees the replies meant for other programs on the node.
 */
export class IcmpProber {
  private readonly nat: NodecheckNative;
  private readonly netnsPath: string | null;
  private readonly fd: number;
  private readonly id: number;
  private readonly pending = new Map<number, Pending>();
  private readonly sendBuf = Buffer.alloc(MAX_PROBE_BYTES);
  private readonly recvBuf = Buffer.alloc(MAX_PROBE_BYTES);
  private readonly poll: PollHandle;
  /** The ICMPv6 socket, or why it could not be opened; undefined until the first IPv6 probe. */
  private v6: { fd: number; poll: PollHandle; dst: Buffer; from: Buffer } | { error: string } | undefined;
  private seq = 0;
  private closed = false;

  /** Opens the socket (in `netns` when given). Throws naming the errno: EPERM means no CAP_NET_RAW. */
  static open(opts: { netns?: string } = {}): IcmpProber {
    const nat = loadNodecheck();
    const path = opts.netns === undefined ? null : opts.netns.includes('/') ? opts.netns : `/run/netns/${opts.netns}`;
    const fd = nat.icmpOpen(path);
    if (fd < 0) {
      const code = errnoName(-fd);
      throw new Error(`opening a raw ICMP socket: ${code}${code === 'EPERM' ? ' (needs CAP_NET_RAW, which the DaemonSet grants)' : ''}`);
    }
    return new IcmpProber(nat, fd, path);
  }

  private constructor(nat: NodecheckNative, fd: number, netnsPath: string | null) {
    this.nat = nat;
    this.netnsPath = netnsPath;
    this.fd = fd;
    this.id = Math.floor(Math.random() * 0x10000);
    this.poll = loadDatapath().pollStart(fd, POLL_READABLE, () => this.drain());
  }

  /** Probes in flight right now. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** One echo request of `size` bytes (IP packet) with DF to `dst`, IPv4 or IPv6; never rejects. */
  probe(dst: string, size: number, timeoutMs: number): Promise<ProbeResult> {
    const addr4 = parseIpv4(dst);
    const addr6 = addr4 === undefined ? parseIpv6(dst) : undefined;
    const fail = (detail: string): Promise<ProbeResult> => Promise.resolve({ ok: false, size, reason: 'send-error', detail });
    if (addr4 === undefined && addr6 === undefined) return fail(`${JSON.stringify(dst)} is not an IP address`);
    if (this.closed) return fail('prober closed');
    const v6 = addr6 === undefined ? undefined : this.openV6();
    if (v6 !== undefined && 'error' in v6) return fail(v6.error);
    let seq = this.seq;
    // Skip sequence numbers still waiting for an answer (after 65536 probes in flight at once, which the rate limits never reach).
    for (let i = 0; i < 0x10000 && this.pending.has(seq); i++) seq = (seq + 1) & 0xffff;
    this.seq = (seq + 1) & 0xffff;
    let len: number;
    try {
      len = v6 === undefined ? writeEchoRequest(this.sendBuf, this.id, seq, size) : writeEcho6Request(this.sendBuf, this.id, seq, size);
    } catch (e) {
      return fail(errorText(e));
    }
    return new Promise((resolve) => {
      const sentAt = performance.now();
      let key: number | string;
      let n: number;
      if (v6 === undefined) {
        key = addr4!;
        n = this.nat.icmpSend(this.fd, addr4!, this.sendBuf, len);
      } else {
        v6.dst.writeBigUInt64BE(addr6! >> 64n, 0);
        v6.dst.writeBigUInt64BE(addr6! & 0xffff_ffff_ffff_ffffn, 8);
        key = v6.dst.toString('hex');
        n = this.nat.icmp6Send(v6.fd, v6.dst, this.sendBuf, len);
      }
      if (n < 0) {
        const code = errnoName(-n);
        resolve({ ok: false, size, reason: 'send-error', detail: code === 'EMSGSIZE' ? `EMSGSIZE (larger than the MTU of the route to ${dst})` : code });
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        resolve({ ok: false, size, reason: 'timeout', detail: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      timer.unref();
      this.pending.set(seq, { dst: key, size, sentAt, timer, resolve });
    });
  }

  /** The ICMPv6 socket, opened at the first IPv6 probe: an IPv4-only node never needs one. */
  private openV6(): NonNullable<IcmpProber['v6']> {
    if (this.v6 !== undefined) return this.v6;
    const fd = this.nat.icmp6Open(this.netnsPath);
    if (fd < 0) {
      const code = errnoName(-fd);
      this.v6 = { error: `opening a raw ICMPv6 socket: ${code}${code === 'EPERM' ? ' (needs CAP_NET_RAW, which the DaemonSet grants)' : ''}` };
    } else {
      this.v6 = { fd, poll: loadDatapath().pollStart(fd, POLL_READABLE, () => this.drain6()), dst: Buffer.alloc(16), from: Buffer.alloc(16) };
    }
    return this.v6;
  }

  /** Stops receiving; probes in flight resolve as failed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    loadDatapath().pollStop(this.poll);
    loadDatapath().closeFd(this.fd);
    if (this.v6 !== undefined && 'fd' in this.v6) {
      loadDatapath().pollStop(this.v6.poll);
      loadDatapath().closeFd(this.v6.fd);
    }
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve({ ok: false, size: p.size, reason: 'send-error', detail: 'prober closed' });
      this.pending.delete(seq);
    }
  }

  private drain(): void {
    for (let i = 0; i < 1024 && !this.closed; i++) {
      const n = this.nat.icmpRecv(this.fd, this.recvBuf);
      if (n <= 0) return;
      const msg = parseIcmpPacket(this.recvBuf, n);
      if (msg === undefined) continue;
      if (msg.kind === 'reply') this.answer(msg);
      else {
        const tooBig = msg.type === ICMP_DEST_UNREACH && msg.code === ICMP_FRAG_NEEDED && msg.mtu > 0;
        this.answer({ ...msg, describe: () => `${describeIcmpError(msg.type, msg.code, msg.mtu)} from ${formatIpv4(msg.from)}`, mtu: tooBig ? msg.mtu : undefined });
      }
    }
  }

  private drain6(): void {
    const v6 = this.v6;
    if (v6 === undefined || !('fd' in v6)) return;
    for (let i = 0; i < 1024 && !this.closed; i++) {
      const n = this.nat.icmp6Recv(v6.fd, this.recvBuf, v6.from);
      if (n <= 0) return;
      const msg = parseIcmp6Message(this.recvBuf, n);
      if (msg === undefined) continue;
      const from = v6.from.toString('hex');
      if (msg.kind === 'reply') this.answer({ ...msg, from });
      else {
        const tooBig = msg.type === ICMP6_PACKET_TOO_BIG && msg.mtu > 0;
        this.answer({ ...msg, describe: () => `${describeIcmp6Error(msg.type, msg.code, msg.mtu)} from ${formatIpv6(BigInt(`0x${from}`))}`, mtu: tooBig ? msg.mtu : undefined });
      }
    }
  }

  /**
   * Settles the probe an answer of either family is about: a reply from the probed address, or an
   * error quoting a probe to it (addresses as the Pending keys).
   */
  private answer(a: { readonly kind: 'reply'; readonly id: number; readonly seq: number; readonly from: number | string } | { readonly kind: 'error'; readonly id: number; readonly seq: number; readonly dst: number | string; readonly describe: () => string; readonly mtu: number | undefined }): void {
    if (a.id !== this.id) return;
    const p = this.pending.get(a.seq);
    if (p === undefined) return;
    if (a.kind === 'reply') {
      if (a.from === p.dst) this.settle(a.seq, p, { ok: true, size: p.size, rttMs: performance.now() - p.sentAt });
    } else if (a.dst === p.dst) {
      this.settle(a.seq, p, { ok: false, size: p.size, reason: 'icmp-error', detail: a.describe(), ...(a.mtu !== undefined ? { mtu: a.mtu } : {}) });
    }
  }

  private settle(seq: number, p: Pending, r: ProbeResult): void {
    clearTimeout(p.timer);
    this.pending.delete(seq);
    p.resolve(r);
  }
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-Math.abs(errno));
  } catch {
    return `errno ${errno}`;
  }
}
