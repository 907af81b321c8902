/**
 * One rtnetlink socket: sequence numbers, sending, receiving, ack matching, dumps and batches.
 *
 * rtnetlink handles a request inside the sender's sendmsg: when nlSend returns, the acks (and
 * the first part of a dump) are already queued, and recvmsg produces the next dump part before
 * it returns. So nearly every read succeeds at once; uv_poll readiness is only the fallback
 * when a read finds the queue empty before the answer is complete.
 */
import { constants as osConstants } from 'node:os';
import { netlinkNative, type NativePoller, type NetlinkNative } from '../native/netlink-native.ts';
import {
  NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK, NETLINK_ROUTE, NLMSGERR_ATTR_MSG, NLMSGERR_LEN,
  NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
  RTM_NAMES, SOL_NETLINK, SOL_SOCKET, SO_RCVBUF, SO_RCVBUFFORCE, SO_SNDBUF, SO_SNDBUFFORCE, NETLINK_ADD_MEMBERSHIP,
} from './constants.ts';
import { KernelError } from './errors.ts';
import { messageLength } from './reader.ts';
import { NlWriter } from './writer.ts';
import { netnsPath } from './netns.ts';

const E = osConstants.errno;
export const EAGAIN = E.EAGAIN;
export const ENOBUFS = E.ENOBUFS;
export const EINTR = E.EINTR;
export const ETIMEDOUT = E.ETIMEDOUT;
export const EINVAL = E.EINVAL;

/** Receive buffer handed to nlRecv; must exceed the addon's 64 KiB per-datagram reserve. */
const RX_BYTES = 256 * 1024;
/** Waiting this long for an answer the kernel should have queued already means it is lost. */
const ANSWER_TIMEOUT_MS = 10_000;
/** A dump interrupted by concurrent changes (NLM_F_DUMP_INTR) is retried this often. */
const DUMP_RETRIES = 5;

export interface SocketOptions {
  /** A netns name under /run/netns, or a path to a netns file. */
  readonly netns?: string | undefined;
  /** RTNLGRP_* groups to join (monitor sockets). */
  readonly groups?: readonly number[];
  /** Kernel receive queue limit in bytes (SO_RCVBUFFORCE, falling back to SO_RCVBUF). */
  readonly rcvbuf?: number;
  /** The netlink family: NETLINK_ROUTE unless given (NETLINK_NETFILTER for nf_tables). */
  readonly protocol?: number;
}

export function opName(type: number): string {
  return RTM_NAMES[type] ?? `netlink type ${type}`;
}

/** Reads the errno and extack text of the NLMSG_ERROR message at `start`. */
export function parseAck(buf: Buffer, start: number, len: number): { errno: number; extack: string | undefined } {
  if (len < NLMSG_HDRLEN + 4) return { errno: EINVAL, extack: 'truncated NLMSG_ERROR' };
  const errno = -buf.readInt32LE(start + NLMSG_HDRLEN);
  let extack: string | undefined;
  const flags = buf.readUInt16LE(start + 6);
  if (errno !== 0 && (flags & NLM_F_ACK_TLVS) !== 0 && len >= NLMSG_HDRLEN + NLMSGERR_LEN) {
    // Without NLM_F_CAPPED the original request follows the nlmsgerr; the TLVs come after it.
    let pos = start + NLMSG_HDRLEN + NLMSGERR_LEN;
    if ((flags & NLM_F_CAPPED) === 0) pos = start + NLMSG_HDRLEN + 4 + ((buf.readUInt32LE(start + NLMSG_HDRLEN + 4) + 3) & ~3);
    const end = start + len;
    while (pos + 4 <= end) {
      const alen = buf.readUInt16LE(pos);
      if (alen < 4 || pos + alen > end) break;
      if ((buf.readUInt16LE(pos + 2) & 0x3fff) === NLMSGERR_ATTR_MSG) {
        let e = pos + alen;
        while (e > pos + 4 && buf[e - 1] === 0) e--;
        extack = buf.toString('utf8', pos + 4, e);
      }
      pos += (alen + 3) & ~3;
    }
  }
  return { errno, extack };
}

export class NlSocket {
  readonly fd: number;
  /** Received bytes live here between recv() and the next recv(). */
  readonly rx: Buffer = Buffer.alloc(RX_BYTES);
  /** The writer for single requests and dump requests (used inside exclusive()). */
  readonly w = new NlWriter(4096);
  /** The receive queue limit the kernel granted (without CAP_NET_ADMIN: net.core.rmem_max). */
  rcvbufBytes = 0;
  private readonly nat: NetlinkNative;
  private readonly info = new Int32Array(3);
  /** An errno the addon met after returning data; reported by the next recv(). */
  private deferredErrno = 0;
  private seq: number;
  private poller: NativePoller | undefined;
  private wake: (() => void) | undefined;
  private closed = false;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly onReadable: () => void;

  constructor(opts: SocketOptions = {}) {
    this.nat = netlinkNative();
    const path = opts.netns === undefined ? null : netnsPath(opts.netns);
    const protocol = opts.protocol ?? NETLINK_ROUTE;
    const family = protocol === NETLINK_ROUTE ? 'NETLINK_ROUTE' : `netlink protocol ${protocol}`;
    const fd = this.nat.nlOpen(path, protocol);
    if (fd < 0) throw new KernelError(-fd, 'socket(AF_NETLINK)', path === null ? family : `${family} in ${path}`);
    this.fd = fd;
    this.seq = (Date.now() & 0x3fffffff) | 1;
    this.onReadable = () => {
      const wake = this.wake;
      this.wake = undefined;
      if (this.poller !== undefined) this.nat.nlPollStop(this.poller);
      wake?.();
    };
    try {
      const rcv = opts.rcvbuf ?? 4 * 1024 * 1024;
      if (this.nat.nlSetsockoptInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcv) < 0) this.nat.nlSetsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, rcv);
      if (this.nat.nlSetsockoptInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, 1024 * 1024) < 0) this.nat.nlSetsockoptInt(fd, SOL_SOCKET, SO_SNDBUF, 1024 * 1024);
      // Extended ack gives the kernel's own words for errors; capped acks keep error acks
      // small (no echo of the request), which matters when a batch fails wholesale; strict
      // checking lets dumps be filtered in the kernel (Linux ≥ 4.20; ignored if older).
      const got = this.nat.nlGetsockoptInt(fd, SOL_SOCKET, SO_RCVBUF);
      this.rcvbufBytes = got > 0 ? got : 212992;
      this.nat.nlSetsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
      this.nat.nlSetsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
      this.nat.nlSetsockoptInt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
      for (const g of opts.groups ?? []) {
        const r = this.nat.nlSetsockoptInt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g);
        if (r < 0) throw new KernelError(-r, 'NETLINK_ADD_MEMBERSHIP', `group ${g}`);
      }
    } catch (e) {
      this.nat.nlClose(fd);
      throw e;
    }
  }

  /** Reserves `count` consecutive sequence numbers and returns the first. */
  reserveSeq(count: number): number {
    if (this.seq + count > 0x7fffffff) this.seq = 1;
    const base = this.seq;
    this.seq += count;
    return base;
  }

  /** Runs `fn` after every earlier exclusive() call finished, so answers never interleave. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** One sendmsg of buf[0, len). */
  send(buf: Buffer, len: number, what: string): void {
    if (this.closed) throw new KernelError(E.EBADF, what, 'netlink socket closed');
    const r = this.nat.nlSend(this.fd, buf, len);
    if (r < 0) throw new KernelError(-r, what, `sendmsg of ${len} bytes`);
  }

  /**
   * Reads what is queued into this.rx; returns the byte count, or -errno (-EAGAIN when empty).
   * Never waits.
   */
  tryRecv(): number {
    if (this.deferredErrno !== 0) {
      const e = this.deferredErrno;
      this.deferredErrno = 0;
      return -e;
    }
    const r = this.nat.nlRecv(this.fd, this.rx, this.info);
    if (r > 0 && this.info[0] !== 0) this.deferredErrno = this.info[0]!;
    return r;
  }

  /** Resolves when the socket is readable (or after `timeoutMs`, resolving false). */
  waitReadable(timeoutMs = ANSWER_TIMEOUT_MS): Promise<boolean> {
    if (this.poller === undefined) this.poller = this.nat.nlPollCreate(this.fd, this.onReadable);
    const p = this.poller;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { this.wake = undefined; this.nat.nlPollStop(p); resolve(false); }, timeoutMs);
      this.wake = () => { clearTimeout(timer); resolve(true); };
      this.nat.nlPollStart(p);
    });
  }

  /** Reads at least one datagram, waiting if needed; throws a KernelError for errors. */
  async recv(what: string): Promise<number> {
    for (;;) {
      const r = this.tryRecv();
      if (r > 0) return r;
      if (r !== -EAGAIN) throw new KernelError(-r, what, 'recvmsg');
      if (!(await this.waitReadable())) throw new KernelError(ETIMEDOUT, what, `no answer within ${ANSWER_TIMEOUT_MS} ms`);
    }
  }

  /**
   * Sends the one request in `this.w` and waits for its ack (or for the reply, for requests
   * without NLM_F_ACK). Other messages with its sequence number go to `onReply`.
   */
  async request(target: () => string, onReply?: (buf: Buffer, start: number, len: number, type: number) => void): Promise<void> {
    const out = this.w.finish();
    const seq = out.readUInt32LE(8);
    const type = out.readUInt16LE(4);
    const what = opName(type);
    this.send(out, out.length, what);
    let gotReply = false;
    const wantsAck = (out.readUInt16LE(6) & 4) !== 0;
    for (;;) {
      const n = await this.recv(what);
      let pos = 0;
      while (pos < n) {
        const len = messageLength(this.rx, pos, n);
        const mtype = this.rx.readUInt16LE(pos + 4);
        if (this.rx.readUInt32LE(pos + 8) === seq) {
          if (mtype === NLMSG_ERROR) {
            const a = parseAck(this.rx, pos, len);
            if (a.errno !== 0) throw new KernelError(a.errno, what, target(), a.extack);
            return;
          }
          if (onReply !== undefined) onReply(this.rx, pos, len, mtype);
          gotReply = true;
        }
        pos += (len + 3) & ~3;
      }
      if (gotReply && !wantsAck) return;
    }
  }

  /**
   * A dump (NLM_F_DUMP): `encode` writes the request into `this.w` with the given type, flags
   * and seq; `decode` turns each answer message into a T (or undefined to skip it). Retried
   * from scratch when the kernel flags the dump as interrupted (NLM_F_DUMP_INTR).
   */
  async dump<T>(
    getType: number,
    encode: (w: NlWriter, type: number, flags: number, seq: number) => void,
    decode: (buf: Buffer, start: number, len: number, type: number) => T | undefined,
  ): Promise<T[]> {
    const what = opName(getType);
    for (let attempt = 0; ; attempt++) {
      const seq = this.reserveSeq(1);
      this.w.reset();
      encode(this.w, getType, NLM_F_REQUEST | NLM_F_DUMP, seq);
      const out = this.w.finish();
      this.send(out, out.length, what);
      const items: T[] = [];
      let interrupted = false;
      let done = false;
      while (!done) {
        const n = await this.recv(what);
        let pos = 0;
        while (pos < n) {
          const len = messageLength(this.rx, pos, n);
          if (this.rx.readUInt32LE(pos + 8) === seq) {
            const mtype = this.rx.readUInt16LE(pos + 4);
            if ((this.rx.readUInt16LE(pos + 6) & NLM_F_DUMP_INTR) !== 0) interrupted = true;
            if (mtype === NLMSG_DONE) done = true;
            else if (mtype === NLMSG_ERROR) {
              const a = parseAck(this.rx, pos, len);
              if (a.errno !== 0) throw new KernelError(a.errno, what, 'dump', a.extack);
              done = true;
            } else {
              const item = decode(this.rx, pos, len, mtype);
              if (item !== undefined) items.push(item);
            }
          }
          pos += (len + 3) & ~3;
        }
      }
      if (!interrupted) return items;
      if (attempt + 1 >= DUMP_RETRIES) throw new KernelError(EINTR, what, `dump interrupted by concurrent changes ${DUMP_RETRIES} times`);
    }
  }

  /** Starts calling `cb` whenever the socket is readable (monitors). */
  watch(cb: () => void): void {
    if (this.poller !== undefined) throw new Error('NlSocket.watch: already polling');
    this.poller = this.nat.nlPollCreate(this.fd, cb);
    this.nat.nlPollStart(this.poller);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.poller !== undefined) this.nat.nlPollClose(this.poller);
    this.poller = undefined;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
    this.nat.nlClose(this.fd);
  }

  get isClosed(): boolean { return this.closed; }
}
