import { getSystemErrorName } from 'node:util';
import { formatIpv4, parseIpv4 } from '../ip/ipv4.ts';
import { loadDatapath, POLL_READABLE, type PollHandle } from '../native/datapath-native.ts';
import { loadNodecheck, type NodecheckNative } from '../native/nodecheck-native.ts';
import { describeIcmpError, ICMP_FRAG_NEEDED, ICMP_DEST_UNREACH, MAX_PROBE_BYTES, parseIcmpPacket, writeEchoRequest } from './packet.ts';

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
  readonly dst: number;
  readonly size: number;
  readonly sentAt: number;
  readonly timer: NodeJS.Timeout;
  readonly resolve: (r: ProbeResult) => void;
}

/**
 * ICMP echo with DF over a raw socket (the kernel adds the IP header; DF is always set, see
 * native/src/nodecheck.c). Many probes may be in flight; replies are matched by the socket's
 * random echo id and a per-probe sequence number, since a raw socket also sees the replies
 * meant for other programs on the node.
 */
export class IcmpProber {
  private readonly nat: NodecheckNative;
  private readonly fd: number;
  private readonly id: number;
  private readonly pending = new Map<number, Pending>();
  private readonly sendBuf = Buffer.alloc(MAX_PROBE_BYTES);
  private readonly recvBuf = Buffer.alloc(MAX_PROBE_BYTES);
  private readonly poll: PollHandle;
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
    return new IcmpProber(nat, fd);
  }

  private constructor(nat: NodecheckNative, fd: number) {
    this.nat = nat;
    this.fd = fd;
    this.id = Math.floor(Math.random() * 0x10000);
    this.poll = loadDatapath().pollStart(fd, POLL_READABLE, () => this.drain());
  }

  /** Probes in flight right now. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** One echo request of `size` bytes (IP packet) with DF to `dst`; never rejects. */
  probe(dst: string, size: number, timeoutMs: number): Promise<ProbeResult> {
    const addr = parseIpv4(dst);
    if (addr === undefined) return Promise.resolve({ ok: false, size, reason: 'send-error', detail: `${JSON.stringify(dst)} is not an IPv4 address` });
    if (this.closed) return Promise.resolve({ ok: false, size, reason: 'send-error', detail: 'prober closed' });
    let seq = this.seq;
    // Skip sequence numbers still waiting for an answer (after 65536 probes in flight at once, which the rate limits never reach).
    for (let i = 0; i < 0x10000 && this.pending.has(seq); i++) seq = (seq + 1) & 0xffff;
    this.seq = (seq + 1) & 0xffff;
    const len = writeEchoRequest(this.sendBuf, this.id, seq, size);
    return new Promise((resolve) => {
      const sentAt = performance.now();
      const n = this.nat.icmpSend(this.fd, addr, this.sendBuf, len);
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
      this.pending.set(seq, { dst: addr, size, sentAt, timer, resolve });
    });
  }

  /** Stops receiving; probes in flight resolve as failed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    loadDatapath().pollStop(this.poll);
    loadDatapath().closeFd(this.fd);
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
      if (msg === undefined || msg.id !== this.id) continue;
      const p = this.pending.get(msg.seq);
      if (p === undefined) continue;
      if (msg.kind === 'reply') {
        if (msg.from !== p.dst) continue;
        this.settle(msg.seq, p, { ok: true, size: p.size, rttMs: performance.now() - p.sentAt });
      } else {
        if (msg.dst !== p.dst) continue;
        const detail = `${describeIcmpError(msg.type, msg.code, msg.mtu)} from ${formatIpv4(msg.from)}`;
        const tooBig = msg.type === ICMP_DEST_UNREACH && msg.code === ICMP_FRAG_NEEDED && msg.mtu > 0;
        this.settle(msg.seq, p, { ok: false, size: p.size, reason: 'icmp-error', detail, ...(tooBig ? { mtu: msg.mtu } : {}) });
      }
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
