import type { NativeError } from './errors.ts';
import { loadNative } from './load.ts';

/**
 * The datapath half of the native addon (native/src/datapath.c, poll.c), typed. Batch calls
 * return a count, 0 when the fd would block, or -errno; they never throw on EAGAIN. The setup
 * calls (tunOpen, tunSetOffload, tunSetPersist, udpOpen, pollStart) throw a {@link NativeError}
 * when the kernel refuses. Wrong arguments throw a TypeError naming the argument.
 */
export interface DatapathNative {
  /** Open /dev/net/tun as IFF_TUN|IFF_NO_PI (+IFF_VNET_HDR); `name` may be a template like 'flannel%d'. */
  tunOpen(name: string, vnetHdr: boolean): { fd: number; name: string };
  /** TUNSETOFFLOAD with TUN_F_* flags. */
  tunSetOffload(fd: number, flags: number): void;
  /** TUNSETPERSIST: the device outlives the fd. */
  tunSetPersist(fd: number, on: 0 | 1): void;
  /** Read one packet per slot (slot i at i*slotSize) until EAGAIN or maxSlots. */
  tunRead(fd: number, slab: Buffer, slotSize: number, lens: Int32Array, maxSlots: number): number;
  /** Write packet i = slab[offs[i], +lens[i]); returns how many the kernel took. */
  tunWrite(fd: number, slab: Buffer, offs: Int32Array, lens: Int32Array, n: number): number;
  /** Bind a non-blocking UDP socket to addr:port (addr as uint32); GRO/GSO probed. */
  udpOpen(addr: number, port: number, bufBytes: number, wantGro: boolean, wantGso: boolean): UdpSocketInfo;
  /** recvmmsg into slots; src = sender uint32, seg = GRO segment size or 0, lens -1 = truncated. */
  udpRecv(fd: number, slab: Buffer, slotSize: number, lens: Int32Array, src: Uint32Array, seg: Int32Array, maxSlots: number): number;
  /** sendmmsg of slab[offs[i], +lens[i]) to dst[i]:port, cut into seg[i]-byte datagrams when seg[i] > 0. */
  udpSend(fd: number, slab: Buffer, offs: Int32Array, lens: Int32Array, dst: Uint32Array, seg: Int32Array, n: number, port: number): number;
  /** Ones'-complement sum of buf[off, off+len) plus `initial`, folded to 16 bits, not complemented. */
  csum(buf: Buffer, off: number, len: number, initial: number): number;
  closeFd(fd: number): number;
  /** sched_yield(2). */
  schedYield(): number;
  /** Watch fd for readiness (1 readable, 2 writable); cb gets the events, or a negative libuv status. */
  pollStart(fd: number, events: number, cb: (events: number) => void): PollHandle;
  /** Stop and free a poll handle; call before closing its fd. Safe twice. */
  pollStop(h: PollHandle): void;
}

export interface UdpSocketInfo {
  readonly fd: number;
  /** UDP_GRO accepted: recv may return several datagrams coalesced in one slot. */
  readonly gro: boolean;
  /** UDP_SEGMENT accepted: send may pass super-datagrams with a segment size. */
  readonly gso: boolean;
  readonly rcvbuf: number;
  readonly sndbuf: number;
}

/** Opaque uv_poll handle. */
export type PollHandle = { readonly __brand: 'PollHandle' };

/** linux/if_tun.h */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_USO4 = 0x20;

export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;

export function loadDatapath(): DatapathNative {
  const addon = loadNative() as Partial<DatapathNative>;
  if (typeof addon.tunOpen !== 'function' || typeof addon.udpSend !== 'function') {
    throw new Error('native addon has no datapath functions; rebuild it with "npm run build:native"');
  }
  return addon as DatapathNative;
}
