/**
 * NetlinkBatch: many requests encoded back to back into one buffer, sent in chunks of many
 * messages per sendmsg, one ack each. Chunks are sized so their acks always fit the socket's
 * receive queue; if the kernel still drops acks (ENOBUFS), the requests whose acks were lost
 * are reported as ENOBUFS (their outcome is unknown; a reconcile retries them) and later
 * chunks get smaller.
 */
import { NLMSG_ERROR, RTM_DELADDR, RTM_DELLINK, RTM_DELNEIGH, RTM_DELROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE, RTM_SETLINK } from './constants.ts';
import { KernelError } from './errors.ts';
import { messageLength } from './reader.ts';
import { NlWriter, NetlinkEncodeError } from './writer.ts';
import { describeLinkSpec, encodeLinkAdd, encodeLinkDel, encodeLinkSet } from './link.ts';
import { describeAddr, encodeAddr } from './addr.ts';
import { describeRoute, encodeRoute } from './route.ts';
import { describeNeigh, encodeNeigh } from './neigh.ts';
import { EAGAIN, EINVAL, ENOBUFS, ETIMEDOUT, opName, parseAck, type NlSocket } from './socket.ts';
import { closeNetns, openNetns } from './netns.ts';
import type { Addr, LinkChange, LinkSpec, NetlinkBatch, Neigh, Route } from './types.ts';

/** At most this many requests per sendmsg; fewer when the receive queue is small. */
const CHUNK_MESSAGES = 1024;
/** Receive-queue budget per expected ack: an ack skb's truesize is under 1 KiB; leave 2× room. */
const ACK_BUDGET_BYTES = 2048;
/** And at most this many bytes: sendmsg fails with EMSGSIZE beyond the send buffer. */
const CHUNK_BYTES = 256 * 1024;

type Kind = 'linkAdd' | 'linkDel' | 'linkSet' | 'addrAdd' | 'addrReplace' | 'addrDel' | 'routeAdd' | 'routeReplace' | 'routeDel' | 'neighSet' | 'neighDel';

/**
 * Encodes one request into `w` with `seq`. Exported for the handle's single-request path.
 * `arg`: linkSet's change, or linkAdd's open fd of the veth peer's namespace.
 */
export function encodeRequest(w: NlWriter, seq: number, kind: Kind, obj: unknown, arg: unknown): void {
  switch (kind) {
    case 'linkAdd': return encodeLinkAdd(w, seq, obj as LinkSpec, arg as number | undefined);
    case 'linkDel': return encodeLinkDel(w, seq, obj as number);
    case 'linkSet': return encodeLinkSet(w, seq, obj as number, arg as LinkChange);
    case 'addrAdd': return encodeAddr(w, seq, 'add', obj as Addr);
    case 'addrReplace': return encodeAddr(w, seq, 'replace', obj as Addr);
    case 'addrDel': return encodeAddr(w, seq, 'del', obj as Addr);
    case 'routeAdd': return encodeRoute(w, seq, 'add', obj as Route);
    case 'routeReplace': return encodeRoute(w, seq, 'replace', obj as Route);
    case 'routeDel': return encodeRoute(w, seq, 'del', obj as Route);
    case 'neighSet': return encodeNeigh(w, seq, 'set', obj as Neigh);
    case 'neighDel': return encodeNeigh(w, seq, 'del', obj as Neigh);
  }
}

/** Text for errors: built only when a request failed. */
export function describeRequest(kind: Kind, obj: unknown, arg: unknown): string {
  switch (kind) {
    case 'linkAdd': return describeLinkSpec(obj as LinkSpec);
    case 'linkDel': return `dev ${obj as number}`;
    case 'linkSet': return `dev ${obj as number} ${JSON.stringify(arg)}`;
    case 'addrAdd': case 'addrReplace': case 'addrDel': return describeAddr(obj as Addr);
    case 'routeAdd': case 'routeReplace': case 'routeDel': return describeRoute(obj as Route);
    case 'neighSet': case 'neighDel': return describeNeigh(obj as Neigh);
  }
}

export type { Kind as RequestKind };

export class Batch implements NetlinkBatch {
  private readonly w = new NlWriter(16 * 1024);
  private readonly kinds: Kind[] = [];
  private readonly objs: unknown[] = [];
  private readonly args: unknown[] = [];
  /** End offset in `w` of each encoded message, and the request it belongs to. */
  private ends = new Int32Array(256);
  private reqOf = new Int32Array(256);
  private msgs = 0;
  /** Requests that could not even be encoded (bad input): index → error. */
  private readonly early = new Map<number, KernelError>();
  private ran = false;
  /** Namespace fds for veth peers, open until the batch has run. */
  private readonly fds: number[] = [];
  private readonly sock: NlSocket;

  constructor(sock: NlSocket) {
    this.sock = sock;
  }

  get size(): number { return this.kinds.length; }

  linkAdd(spec: LinkSpec): this {
    if (this.ran || spec.peerNetns === undefined) return this.add('linkAdd', spec, undefined);
    const fd = openNetns(spec.peerNetns);
    this.fds.push(fd);
    return this.add('linkAdd', spec, fd);
  }
  linkDel(index: number): this { return this.add('linkDel', index, undefined); }
  linkSet(index: number, change: LinkChange): this { return this.add('linkSet', index, change); }
  addrAdd(a: Addr): this { return this.add('addrAdd', a, undefined); }
  addrReplace(a: Addr): this { return this.add('addrReplace', a, undefined); }
  addrDel(a: Addr): this { return this.add('addrDel', a, undefined); }
  routeAdd(r: Route): this { return this.add('routeAdd', r, undefined); }
  routeReplace(r: Route): this { return this.add('routeReplace', r, undefined); }
  routeDel(r: Route): this { return this.add('routeDel', r, undefined); }
  neighSet(n: Neigh): this { return this.add('neighSet', n, undefined); }
  neighDel(n: Neigh): this { return this.add('neighDel', n, undefined); }

  /** Encodes now (seq patched at run time), so bad input is found at the request it is in. */
  private add(kind: Kind, obj: unknown, arg: unknown): this {
    if (this.ran) throw new Error('NetlinkBatch: already run; make a new batch');
    const req = this.kinds.length;
    this.kinds.push(kind);
    this.objs.push(obj);
    this.args.push(arg);
    const mark = this.w.mark();
    try {
      encodeRequest(this.w, 0, kind, obj, arg);
    } catch (e) {
      this.w.rollback(mark);
      if (!(e instanceof NetlinkEncodeError)) throw e;
      this.early.set(req, new KernelError(EINVAL, opFor(kind), describeSafe(kind, obj, arg), e.message));
      return this;
    }
    if (this.msgs === this.ends.length) {
      const ends = new Int32Array(this.ends.length * 2); ends.set(this.ends); this.ends = ends;
      const reqOf = new Int32Array(this.reqOf.length * 2); reqOf.set(this.reqOf); this.reqOf = reqOf;
    }
    this.ends[this.msgs] = this.w.length;
    this.reqOf[this.msgs] = req;
    this.msgs++;
    return this;
  }

  run(): Promise<(KernelError | null)[]> {
    if (this.ran) return Promise.reject(new Error('NetlinkBatch: already run; make a new batch'));
    this.ran = true;
    return this.sock.exclusive(() => this.send()).finally(() => {
      for (const fd of this.fds.splice(0)) closeNetns(fd);
    });
  }

  private async send(): Promise<(KernelError | null)[]> {
    const results: (KernelError | null)[] = new Array<KernelError | null>(this.kinds.length).fill(null);
    for (const [i, e] of this.early) results[i] = e;
    const n = this.msgs;
    if (n === 0) return results;
    const sock = this.sock;
    const buf = this.w.buffer;
    const base = sock.reserveSeq(n);
    for (let i = 0; i < n; i++) buf.writeUInt32LE(base + i, i === 0 ? 8 : this.ends[i - 1]! + 8);
    const acked = new Uint8Array(n);
    let chunkMax = Math.max(16, Math.min(CHUNK_MESSAGES, Math.floor(sock.rcvbufBytes / ACK_BUDGET_BYTES)));
    let first = 0;
    while (first < n) {
      const start = first === 0 ? 0 : this.ends[first - 1]!;
      let last = first + 1; // exclusive
      while (last < n && last - first < chunkMax && this.ends[last]! - start <= CHUNK_BYTES) last++;
      const end = this.ends[last - 1]!;
      sock.send(buf.subarray(start, end), end - start, 'netlink batch');
      let missing = last - first;
      let overflow = false;
      while (missing > 0) {
        const got = sock.tryRecv();
        if (got === -EAGAIN) {
          if (overflow) break; // drained: the rest of the acks were dropped
          if (!(await sock.waitReadable())) { this.fail(results, acked, first, last, ETIMEDOUT, 'no ack'); break; }
          continue;
        }
        if (got === -ENOBUFS) { overflow = true; continue; }
        if (got < 0) { this.fail(results, acked, first, last, -got, 'recvmsg failed'); break; }
        let pos = 0;
        while (pos < got) {
          const len = messageLength(sock.rx, pos, got);
          const idx = sock.rx.readUInt32LE(pos + 8) - base;
          if (idx >= first && idx < last && sock.rx.readUInt16LE(pos + 4) === NLMSG_ERROR && acked[idx] === 0) {
            acked[idx] = 1;
            missing--;
            const a = parseAck(sock.rx, pos, len);
            if (a.errno !== 0) {
              const req = this.reqOf[idx]!;
              results[req] = new KernelError(a.errno, opFor(this.kinds[req]!), describeSafe(this.kinds[req]!, this.objs[req], this.args[req]), a.extack);
            }
          }
          pos += (len + 3) & ~3;
        }
      }
      if (overflow) {
        this.fail(results, acked, first, last, ENOBUFS, 'ack lost: receive queue overflowed, outcome unknown');
        chunkMax = Math.max(1, chunkMax >> 1);
      }
      first = last;
    }
    return results;
  }

  private fail(results: (KernelError | null)[], acked: Uint8Array, first: number, last: number, errno: number, why: string): void {
    for (let i = first; i < last; i++) {
      if (acked[i] !== 0) continue;
      acked[i] = 1;
      const req = this.reqOf[i]!;
      results[req] = new KernelError(errno, opFor(this.kinds[req]!), describeSafe(this.kinds[req]!, this.objs[req], this.args[req]), why);
    }
  }
}

export function opFor(kind: Kind): string {
  switch (kind) {
    case 'linkAdd': return opName(RTM_NEWLINK);
    case 'linkDel': return opName(RTM_DELLINK);
    case 'linkSet': return opName(RTM_SETLINK);
    case 'addrAdd': case 'addrReplace': return opName(RTM_NEWADDR);
    case 'addrDel': return opName(RTM_DELADDR);
    case 'routeAdd': case 'routeReplace': return opName(RTM_NEWROUTE);
    case 'routeDel': return opName(RTM_DELROUTE);
    case 'neighSet': return opName(RTM_NEWNEIGH);
    case 'neighDel': return opName(RTM_DELNEIGH);
  }
}

function describeSafe(kind: Kind, obj: unknown, arg: unknown): string {
  try { return describeRequest(kind, obj, arg); } catch { return String(obj); }
}
