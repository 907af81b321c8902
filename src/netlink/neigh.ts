/**
 * Neighbours: ARP/NDP entries (AF_INET/AF_INET6) and bridge/vxlan FDB entries (AF_BRIDGE):
 * RTM_NEWNEIGH / RTM_DELNEIGH / RTM_GETNEIGH. flannel's VXLAN backend needs both kinds per peer.
 */
import {
  AF_BRIDGE, AF_INET, AF_INET6, NDA_DST, NDA_IFINDEX, NDA_LLADDR, NDA_MAX_USED, NDMSG_LEN, NLM_F_ACK, NLM_F_CREATE,
  NLM_F_REPLACE, NLM_F_REQUEST, NTF_SELF, RTM_DELNEIGH, RTM_NEWNEIGH,
} from './constants.ts';
import { AttrTable } from './reader.ts';
import type { NlWriter } from './writer.ts';
import type { Neigh } from './types.ts';

export type NeighOp = 'set' | 'del';

/**
 * set: `ip neigh replace IP lladdr MAC dev INDEX nud permanent`, or for AF_BRIDGE
 * `bridge fdb replace MAC dev INDEX dst IP self permanent` (NLM_F_CREATE|NLM_F_REPLACE).
 * del: `ip neigh del IP dev INDEX` / `bridge fdb del MAC dev INDEX [dst IP] self`.
 */
export function encodeNeigh(w: NlWriter, seq: number, op: NeighOp, n: Neigh): void {
  w.msg(op === 'del' ? RTM_DELNEIGH : RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | (op === 'set' ? NLM_F_CREATE | NLM_F_REPLACE : 0), seq);
  const h = w.reserve(NDMSG_LEN);
  w.setU8(h, n.family);
  w.setI32(h + 4, n.index);
  w.setU16(h + 8, n.state);
  w.setU8(h + 10, n.flags ?? 0);
  // Attribute order as iproute2 writes it (ip neigh: dst, lladdr; bridge fdb: lladdr, dst), so
  // our requests are byte-identical to theirs; the kernel itself does not care.
  if (n.family === AF_BRIDGE) {
    if (n.mac !== undefined) w.mac(NDA_LLADDR, n.mac, 'neigh mac');
    if (n.ip !== undefined) w.ip(NDA_DST, n.ip, 'neigh ip');
  } else {
    if (n.ip !== undefined) w.ip(NDA_DST, n.ip, 'neigh ip');
    if (n.mac !== undefined) w.mac(NDA_LLADDR, n.mac, 'neigh mac');
  }
  w.end();
}

/** RTM_GETNEIGH dump request; with NETLINK_GET_STRICT_CHK, NDA_IFINDEX filters in the kernel. */
export function encodeNeighDump(w: NlWriter, type: number, flags: number, seq: number, family: number, index?: number): void {
  w.msg(type, flags, seq);
  const h = w.reserve(NDMSG_LEN);
  w.setU8(h, family);
  if (index !== undefined) w.u32(NDA_IFINDEX, index);
  w.end();
}

const attrs = new AttrTable(NDA_MAX_USED);

/** Decodes one RTM_NEWNEIGH/RTM_DELNEIGH message. */
export function decodeNeigh(buf: Buffer, start: number, len: number): Neigh {
  const h = attrs.parseBody(buf, start, len, NDMSG_LEN, 'ndmsg');
  const f = buf[h]!;
  const n: { -readonly [K in keyof Neigh]: Neigh[K] } = {
    index: buf.readInt32LE(h + 4),
    family: f === AF_BRIDGE ? AF_BRIDGE : f === AF_INET6 ? AF_INET6 : AF_INET,
    state: buf.readUInt16LE(h + 8),
    flags: buf[h + 10]!,
  };
  const ip = attrs.ip(NDA_DST);
  if (ip !== undefined) n.ip = ip;
  const mac = attrs.mac(NDA_LLADDR);
  if (mac !== undefined) n.mac = mac;
  return n;
}

export function describeNeigh(n: Neigh): string {
  if (n.family === AF_BRIDGE) {
    return `fdb ${n.mac ?? '?'}${n.ip === undefined ? '' : ` dst ${n.ip}`} dev ${n.index}${((n.flags ?? 0) & NTF_SELF) !== 0 ? ' self' : ''}`;
  }
  return `${n.ip ?? '?'}${n.mac === undefined ? '' : ` lladdr ${n.mac}`} dev ${n.index}`;
}
