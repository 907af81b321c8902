/**
 * Interface addresses: RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR.
 */
import {
  AF_INET, AF_INET6, IFADDRMSG_LEN, IFA_ADDRESS, IFA_FLAGS, IFA_LOCAL, IFA_MAX_USED, NLM_F_ACK, NLM_F_CREATE,
  NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, RTM_DELADDR, RTM_NEWADDR,
} from './constants.ts';
import { AttrTable } from './reader.ts';
import { NetlinkEncodeError, type NlWriter } from './writer.ts';
import type { Addr } from './types.ts';

export type AddrOp = 'add' | 'replace' | 'del';

/**
 * `ip addr add|replace|del A/N dev INDEX`. Like ip, IFA_LOCAL and IFA_ADDRESS both carry the
 * address (they differ only on point-to-point links).
 */
export function encodeAddr(w: NlWriter, seq: number, op: AddrOp, a: Addr): void {
  const maxLen = a.family === AF_INET6 ? 128 : 32;
  if (!(a.prefixLen >= 0 && a.prefixLen <= maxLen)) throw new NetlinkEncodeError(`addr prefixLen: ${a.prefixLen} outside 0–${maxLen}`);
  const type = op === 'del' ? RTM_DELADDR : RTM_NEWADDR;
  const flags = NLM_F_REQUEST | NLM_F_ACK | (op === 'add' ? NLM_F_CREATE | NLM_F_EXCL : op === 'replace' ? NLM_F_CREATE | NLM_F_REPLACE : 0);
  w.msg(type, flags, seq);
  const h = w.reserve(IFADDRMSG_LEN);
  w.setU8(h, a.family);
  w.setU8(h + 1, a.prefixLen);
  w.setU8(h + 2, (a.flags ?? 0) & 0xff);
  w.setU8(h + 3, a.scope ?? 0);
  w.setU32(h + 4, a.index);
  w.ip(IFA_LOCAL, a.address, 'addr address');
  w.ip(IFA_ADDRESS, a.address, 'addr address');
  if (a.flags !== undefined && a.flags > 0xff) w.u32(IFA_FLAGS, a.flags);
  w.end();
}

/** RTM_GETADDR dump request for one family (or all). */
export function encodeAddrDump(w: NlWriter, type: number, flags: number, seq: number, family: number, index?: number): void {
  w.msg(type, flags, seq);
  const h = w.reserve(IFADDRMSG_LEN);
  w.setU8(h, family);
  // With NETLINK_GET_STRICT_CHK the kernel filters by ifa_index for us.
  if (index !== undefined) w.setU32(h + 4, index);
  w.end();
}

const attrs = new AttrTable(IFA_MAX_USED);

/** Decodes one RTM_NEWADDR/RTM_DELADDR message. */
export function decodeAddr(buf: Buffer, start: number, len: number): Addr {
  const h = attrs.parseBody(buf, start, len, IFADDRMSG_LEN, 'ifaddrmsg');
  const family = buf[h]!;
  const address = attrs.ip(IFA_LOCAL) ?? attrs.ip(IFA_ADDRESS) ?? '';
  return {
    index: buf.readUInt32LE(h + 4),
    family: family === AF_INET6 ? AF_INET6 : AF_INET,
    address,
    prefixLen: buf[h + 1]!,
    flags: attrs.u32(IFA_FLAGS) ?? buf[h + 2]!,
    scope: buf[h + 3]!,
  };
}

export function describeAddr(a: Addr): string {
  return `${a.address}/${a.prefixLen} dev ${a.index}`;
}
