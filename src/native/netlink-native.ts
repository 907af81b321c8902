import { loadNative } from './load.ts';

/** An opaque uv_poll handle owned by the addon. */
export type NativePoller = { readonly __brand: 'NativePoller' };

/**
 * The addon's netlink functions (native/src/netlink.c, poll.c). All return a non-negative
 * result or -errno and never throw for a kernel error: src/netlink/socket.ts turns -errno into
 * a KernelError naming the request. Wrong arguments throw a TypeError naming the argument;
 * nlPollCreate throws a NativeError (src/native/errors.ts) when libuv refuses the fd.
 * @internal Used by src/netlink/ only.
 */
export interface NetlinkNative {
  /** socket(AF_NETLINK, SOCK_RAW|NONBLOCK|CLOEXEC, protocol) + bind, inside `netnsPath` if given → fd */
  nlOpen(netnsPath: string | null, protocol: number): number;
  nlSetsockoptInt(fd: number, level: number, name: number, value: number): number;
  nlGetsockoptInt(fd: number, level: number, name: number): number;
  /** One sendmsg of buf[0, length) to the kernel → bytes sent */
  nlSend(fd: number, buf: Buffer, length: number): number;
  /**
   * Datagrams back to back into buf (≥ 64 KiB) until empty → bytes, or -EAGAIN when nothing
   * was queued. info[0]: errno met after data (report it, the kernel says it once);
   * info[1]: datagrams read; info[2]: 1 if a non-kernel datagram was dropped.
   */
  nlRecv(fd: number, buf: Buffer, info: Int32Array): number;
  nlClose(fd: number): number;
  /** `callback(events)` runs while started and fd is readable; events < 0 is a libuv error. */
  nlPollCreate(fd: number, callback: (events: number) => void): NativePoller;
  nlPollStart(p: NativePoller): number;
  nlPollStop(p: NativePoller): number;
  /** Stop and release; call before nlClose(fd). */
  nlPollClose(p: NativePoller): number;
}

const NAMES = [
  'nlOpen', 'nlSetsockoptInt', 'nlGetsockoptInt', 'nlSend', 'nlRecv', 'nlClose',
  'nlPollCreate', 'nlPollStart', 'nlPollStop', 'nlPollClose',
] as const;

let cached: NetlinkNative | undefined;

/** The typed netlink part of the addon; throws a clear error when the addon is stale. */
export function netlinkNative(): NetlinkNative {
  if (cached !== undefined) return cached;
  const mod = loadNative() as Record<string, unknown>;
  const missing = NAMES.filter((n) => typeof mod[n] !== 'function');
  if (missing.length > 0) {
    throw new Error(`native addon lacks ${missing.join(', ')}; rebuild it with "npm run build:native"`);
  }
  cached = mod as unknown as NetlinkNative;
  return cached;
}
