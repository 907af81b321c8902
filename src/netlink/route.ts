/**
 * Routes: RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE. Defaults follow `ip route`: adds are
 * RTPROT_BOOT, RTN_UNICAST, main table, scope universe with a gateway and link without one;
 * deletes leave protocol, type and scope as wildcards unless the caller sets them.
 */
import {
  AF_INET6, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, RTA_DST, RTA_GATEWAY,
  RTA_MAX_USED, RTA_OIF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE, RTMSG_LEN, RTM_DELROUTE, RTM_NEWROUTE,
  RTNH_F_ONLINK, RTN_UNICAST, RTN_UNSPEC, RTPROT_BOOT, RTPROT_UNSPEC, RT_SCOPE_LINK, RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RT_TABLE_UNSPEC,
} from './constants.ts';
import { splitCidr } from './addrtext.ts';
import { AttrTable } from './reader.ts';
import { NetlinkEncodeError, type NlWriter } from './writer.ts';
import type { Route } from './types.ts';

export type RouteOp = 'add' | 'replace' | 'del';

/** `ip route add|replace|del DST [via GW] [dev OIF] [onlink] [src S] [metric P] [table T] …` */
export function encodeRoute(w: NlWriter, seq: number, op: RouteOp, r: Route): void {
  const del = op === 'del';
  const type = del ? RTM_DELROUTE : RTM_NEWROUTE;
  const flags = NLM_F_REQUEST | NLM_F_ACK | (op === 'add' ? NLM_F_CREATE | NLM_F_EXCL : op === 'replace' ? NLM_F_CREATE | NLM_F_REPLACE : 0);
  const maxLen = r.family === AF_INET6 ? 128 : 32;
  let dstIp: string | undefined;
  let dstLen = 0;
  if (r.dst !== undefined) {
    const c = splitCidr(r.dst);
    dstIp = c.ip;
    dstLen = c.prefixLen < 0 && !r.dst.includes('/') ? maxLen : c.prefixLen;
    if (!(dstLen >= 0 && dstLen <= maxLen)) throw new NetlinkEncodeError(`route dst: "${r.dst}" has no valid prefix length (0–${maxLen})`);
  }
  const table = r.table ?? RT_TABLE_MAIN;
  w.msg(type, flags, seq);
  const h = w.reserve(RTMSG_LEN);
  w.setU8(h, r.family);
  w.setU8(h + 1, dstLen);
  w.setU8(h + 4, table < 256 ? table : RT_TABLE_UNSPEC);
  w.setU8(h + 5, r.protocol ?? (del ? RTPROT_UNSPEC : RTPROT_BOOT));
  w.setU8(h + 6, r.scope ?? (del ? RT_SCOPE_NOWHERE : r.gateway !== undefined ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK));
  w.setU8(h + 7, r.type ?? (del ? RTN_UNSPEC : RTN_UNICAST));
  w.setU32(h + 8, r.onlink === true ? RTNH_F_ONLINK : 0);
  // Like iproute2: tables above 255 do not fit rtm_table and go in RTA_TABLE only.
  if (table > 255) w.u32(RTA_TABLE, table);
  if (dstIp !== undefined) w.ip(RTA_DST, dstIp, 'route dst');
  if (r.gateway !== undefined) w.ip(RTA_GATEWAY, r.gateway, 'route gateway');
  if (r.oif !== undefined) w.u32(RTA_OIF, r.oif);
  if (r.src !== undefined) w.ip(RTA_PREFSRC, r.src, 'route src');
  if (r.priority !== undefined) w.u32(RTA_PRIORITY, r.priority);
  w.end();
}

/** RTM_GETROUTE dump request; table/oif are filtered in the kernel (NETLINK_GET_STRICT_CHK). */
export function encodeRouteDump(w: NlWriter, type: number, flags: number, seq: number, family: number, filter?: { table?: number; oif?: number }): void {
  w.msg(type, flags, seq);
  const h = w.reserve(RTMSG_LEN);
  w.setU8(h, family);
  if (filter?.table !== undefined) w.u32(RTA_TABLE, filter.table);
  if (filter?.oif !== undefined) w.u32(RTA_OIF, filter.oif);
  w.end();
}

/** `ip route get DST` request. */
export function encodeRouteGet(w: NlWriter, type: number, flags: number, seq: number, dst: string): void {
  const v6 = dst.includes(':');
  w.msg(type, flags, seq);
  const h = w.reserve(RTMSG_LEN);
  w.setU8(h, v6 ? AF_INET6 : 2);
  w.setU8(h + 1, v6 ? 128 : 32);
  w.ip(RTA_DST, dst, 'route get dst');
  w.end();
}

const attrs = new AttrTable(RTA_MAX_USED);

/** Decodes one RTM_NEWROUTE/RTM_DELROUTE message. */
export function decodeRoute(buf: Buffer, start: number, len: number): Route {
  const h = attrs.parseBody(buf, start, len, RTMSG_LEN, 'rtmsg');
  const family = buf[h]! === AF_INET6 ? AF_INET6 : 2;
  const dstLen = buf[h + 1]!;
  const r: { -readonly [K in keyof Route]: Route[K] } = {
    family,
    table: attrs.u32(RTA_TABLE) ?? buf[h + 4]!,
    protocol: buf[h + 5]!,
    scope: buf[h + 6]!,
    type: buf[h + 7]!,
  };
  const dst = attrs.ip(RTA_DST);
  if (dst !== undefined) r.dst = `${dst}/${dstLen}`;
  else if (dstLen !== 0) r.dst = `${family === AF_INET6 ? '::' : '0.0.0.0'}/${dstLen}`;
  const gw = attrs.ip(RTA_GATEWAY);
  if (gw !== undefined) r.gateway = gw;
  const oif = attrs.u32(RTA_OIF);
  if (oif !== undefined) r.oif = oif;
  if ((buf.readUInt32LE(h + 8) & RTNH_F_ONLINK) !== 0) r.onlink = true;
  const src = attrs.ip(RTA_PREFSRC);
  if (src !== undefined) r.src = src;
  const prio = attrs.u32(RTA_PRIORITY);
  if (prio !== undefined) r.priority = prio;
  return r;
}

export function describeRoute(r: Route): string {
  let s = r.dst ?? 'default';
  if (r.gateway !== undefined) s += ` via ${r.gateway}`;
  if (r.oif !== undefined) s += ` dev ${r.oif}`;
  if (r.onlink === true) s += ' onlink';
  if (r.table !== undefined && r.table !== RT_TABLE_MAIN) s += ` table ${r.table}`;
  return s;
}
