/**
 * NetlinkHandle over one NlSocket: single requests (throw a KernelError), dumps, batches.
 * All socket traffic runs through NlSocket.exclusive(), so concurrent calls never read each
 * other's answers.
 */
import {
  AF_UNSPEC, NLM_F_REQUEST, RTM_GETADDR, RTM_GETLINK, RTM_GETNEIGH, RTM_GETROUTE, RTM_NEWADDR, RTM_NEWLINK,
  RTM_NEWNEIGH, RTM_NEWROUTE,
} from './constants.ts';
import { KernelError, isKernelError } from './errors.ts';
import { NetlinkEncodeError } from './writer.ts';
import { decodeLink, encodeLinkGet } from './link.ts';
import { decodeAddr, encodeAddrDump } from './addr.ts';
import { decodeRoute, encodeRouteDump, encodeRouteGet } from './route.ts';
import { decodeNeigh, encodeNeighDump } from './neigh.ts';
import { Batch, describeRequest, encodeRequest, opFor, type RequestKind } from './batch.ts';
import { EINVAL, NlSocket } from './socket.ts';
import { withNetnsFd } from './netns.ts';
import type { Addr, Link, LinkChange, LinkSpec, NetlinkBatch, NetlinkHandle, Neigh, Route } from './types.ts';

export class Handle implements NetlinkHandle {
  private readonly sock: NlSocket;

  constructor(opts: { netns?: string | undefined } = {}) {
    this.sock = new NlSocket({ netns: opts.netns });
  }

  linkList(): Promise<Link[]> {
    return this.sock.exclusive(() => this.sock.dump(RTM_GETLINK, (w, t, f, s) => encodeLinkGet(w, t, f, s), (b, st, len, type) => (type === RTM_NEWLINK ? decodeLink(b, st, len) : undefined)));
  }

  linkByName(name: string): Promise<Link | undefined> { return this.getLink({ name }); }
  linkByIndex(index: number): Promise<Link | undefined> { return this.getLink({ index }); }

  private getLink(by: { index?: number; name?: string }): Promise<Link | undefined> {
    return this.sock.exclusive(async () => {
      let link: Link | undefined;
      this.sock.w.reset();
      encodeLinkGet(this.sock.w, RTM_GETLINK, NLM_F_REQUEST, this.sock.reserveSeq(1), by);
      try {
        await this.sock.request(() => (by.name !== undefined ? by.name : `index ${by.index}`), (b, st, len, type) => {
          if (type === RTM_NEWLINK) link = decodeLink(b, st, len);
        });
      } catch (e) {
        if (isKernelError(e, 'ENODEV')) return undefined;
        throw e;
      }
      return link;
    });
  }

  linkAdd(spec: LinkSpec): Promise<void> {
    return withNetnsFd(spec.peerNetns, (fd) => this.one('linkAdd', spec, fd));
  }
  linkDel(index: number): Promise<void> { return this.one('linkDel', index, undefined); }
  linkSet(index: number, change: LinkChange): Promise<void> { return this.one('linkSet', index, change); }

  addrList(filter?: { index?: number; family?: number }): Promise<Addr[]> {
    const index = filter?.index, family = filter?.family;
    return this.sock.exclusive(() => this.sock.dump(RTM_GETADDR, (w, t, f, s) => encodeAddrDump(w, t, f, s, family ?? AF_UNSPEC, index), (b, st, len, type) => {
      if (type !== RTM_NEWADDR) return undefined;
      const a = decodeAddr(b, st, len);
      if (index !== undefined && a.index !== index) return undefined;
      if (family !== undefined && a.family !== family) return undefined;
      return a;
    }));
  }
  addrAdd(a: Addr): Promise<void> { return this.one('addrAdd', a, undefined); }
  addrReplace(a: Addr): Promise<void> { return this.one('addrReplace', a, undefined); }
  addrDel(a: Addr): Promise<void> { return this.one('addrDel', a, undefined); }

  routeList(filter?: { family?: number; table?: number; oif?: number }): Promise<Route[]> {
    const family = filter?.family, table = filter?.table, oif = filter?.oif;
    const kernelFilter: { table?: number; oif?: number } = {};
    if (table !== undefined) kernelFilter.table = table;
    if (oif !== undefined) kernelFilter.oif = oif;
    return this.sock.exclusive(() => this.sock.dump(RTM_GETROUTE, (w, t, f, s) => encodeRouteDump(w, t, f, s, family ?? AF_UNSPEC, kernelFilter), (b, st, len, type) => {
      if (type !== RTM_NEWROUTE) return undefined;
      if (family !== undefined && b[st + 16] !== family) return undefined; // before decoding
      const r = decodeRoute(b, st, len);
      if (table !== undefined && r.table !== table) return undefined;
      if (oif !== undefined && r.oif !== oif) return undefined;
      return r;
    }));
  }

  routeGet(dst: string): Promise<Route[]> {
    return this.sock.exclusive(async () => {
      const out: Route[] = [];
      this.sock.w.reset();
      try {
        encodeRouteGet(this.sock.w, RTM_GETROUTE, NLM_F_REQUEST, this.sock.reserveSeq(1), dst);
      } catch (e) {
        if (e instanceof NetlinkEncodeError) throw new KernelError(EINVAL, 'RTM_GETROUTE', dst, e.message);
        throw e;
      }
      await this.sock.request(() => dst, (b, st, len, type) => {
        if (type === RTM_NEWROUTE) out.push(decodeRoute(b, st, len));
      });
      return out;
    });
  }
  routeAdd(r: Route): Promise<void> { return this.one('routeAdd', r, undefined); }
  routeReplace(r: Route): Promise<void> { return this.one('routeReplace', r, undefined); }
  routeDel(r: Route): Promise<void> { return this.one('routeDel', r, undefined); }

  neighList(filter: { family: number; index?: number }): Promise<Neigh[]> {
    const { family, index } = filter;
    return this.sock.exclusive(() => this.sock.dump(RTM_GETNEIGH, (w, t, f, s) => encodeNeighDump(w, t, f, s, family, index), (b, st, len, type) => {
      if (type !== RTM_NEWNEIGH || b[st + 16] !== family) return undefined;
      const n = decodeNeigh(b, st, len);
      if (index !== undefined && n.index !== index) return undefined;
      return n;
    }));
  }
  neighSet(n: Neigh): Promise<void> { return this.one('neighSet', n, undefined); }
  neighDel(n: Neigh): Promise<void> { return this.one('neighDel', n, undefined); }

  batch(): NetlinkBatch { return new Batch(this.sock); }

  close(): void { this.sock.close(); }

  /** One request, one ack; the KernelError names the object. */
  private one(kind: RequestKind, obj: unknown, arg: unknown): Promise<void> {
    return this.sock.exclusive(async () => {
      const w = this.sock.w;
      w.reset();
      try {
        encodeRequest(w, this.sock.reserveSeq(1), kind, obj, arg);
      } catch (e) {
        if (e instanceof NetlinkEncodeError) throw new KernelError(EINVAL, opFor(kind), describeRequest(kind, obj, arg), e.message);
        throw e;
      }
      await this.sock.request(() => describeRequest(kind, obj, arg));
    });
  }
}
