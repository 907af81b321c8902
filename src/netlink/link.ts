/**
 * Links (network devices): RTM_NEWLINK / RTM_DELLINK / RTM_SETLINK / RTM_GETLINK.
 * Encoders write into an NlWriter and never mutate their input or open anything (a namespace
 * fd comes from the caller, see netns.ts); decodeLink reads one message.
 */
import {
  AF_UNSPEC, IFF_LOWER_UP, IFF_UP, IFINFOMSG_LEN, IFLA_ADDRESS, IFLA_IFNAME, IFLA_INFO_DATA, IFLA_INFO_KIND,
  IFLA_LINKINFO, IFLA_MASTER, IFLA_MAX_USED, IFLA_MTU, IFLA_TXQLEN, IFLA_NET_NS_FD, IFLA_VXLAN_GBP, IFLA_VXLAN_ID,
  IFLA_VXLAN_LEARNING, IFLA_VXLAN_LINK, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LOCAL6, IFLA_VXLAN_MAX_USED, IFLA_VXLAN_PORT, NLM_F_ACK,
  NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, RTM_DELLINK, RTM_NEWLINK, RTM_SETLINK, VETH_INFO_PEER,
} from './constants.ts';
import { AttrTable } from './reader.ts';
import { NetlinkEncodeError, type NlWriter } from './writer.ts';
import type { Link, LinkChange, LinkSpec, VxlanInfo } from './types.ts';

const IFNAMSIZ = 16;

function checkName(name: string, field: string): void {
  if (name.length === 0 || Buffer.byteLength(name) >= IFNAMSIZ) {
    throw new NetlinkEncodeError(`${field}: "${name}" must be 1–15 bytes`);
  }
}

/**
 * `ip link add NAME [address MAC] [mtu N] type KIND …`: vxlan (id, local, dev, dstport,
 * [no]learning, gbp), dummy, bridge, veth (peer name, optionally in another netns: then
 * `peerNetnsFd` is an open fd of `s.peerNetns`, which the caller keeps open until the ack).
 */
export function encodeLinkAdd(w: NlWriter, seq: number, s: LinkSpec, peerNetnsFd?: number): void {
  checkName(s.name, 'link name');
  w.msg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
  const hdr = w.reserve(IFINFOMSG_LEN);
  w.setU8(hdr, AF_UNSPEC);
  w.str(IFLA_IFNAME, s.name);
  if (s.mtu !== undefined) w.u32(IFLA_MTU, s.mtu);
  if (s.txQueueLen !== undefined) w.u32(IFLA_TXQLEN, s.txQueueLen);
  if (s.mac !== undefined) w.mac(IFLA_ADDRESS, s.mac, 'link mac');
  w.nest(IFLA_LINKINFO).str(IFLA_INFO_KIND, s.kind);
  if (s.kind === 'vxlan') {
    const v = s.vxlan;
    if (v === undefined) throw new NetlinkEncodeError(`link ${s.name}: kind vxlan needs vxlan info (vni, …)`);
    encodeVxlanData(w, v);
  } else if (s.kind === 'veth') {
    if (s.peerName === undefined) throw new NetlinkEncodeError(`link ${s.name}: kind veth needs peerName`);
    checkName(s.peerName, 'veth peerName');
    w.nest(IFLA_INFO_DATA).nest(VETH_INFO_PEER);
    w.reserve(IFINFOMSG_LEN);
    w.str(IFLA_IFNAME, s.peerName);
    if (s.peerNetns !== undefined) {
      if (peerNetnsFd === undefined) throw new NetlinkEncodeError(`link ${s.name}: peerNetns ${s.peerNetns} given without an open namespace fd`);
      w.u32(IFLA_NET_NS_FD, peerNetnsFd);
    }
    w.end().end();
  }
  w.end(); // linkinfo
  w.end(); // message
}

function encodeVxlanData(w: NlWriter, v: VxlanInfo): void {
  w.nest(IFLA_INFO_DATA).u32(IFLA_VXLAN_ID, v.vni);
  // The kernel takes an IPv6 source only as IFLA_VXLAN_LOCAL6 (16 bytes); LOCAL is 4 bytes.
  if (v.local !== undefined) w.ip(v.local.includes(':') ? IFLA_VXLAN_LOCAL6 : IFLA_VXLAN_LOCAL, v.local, 'vxlan local');
  if (v.underlayIndex !== undefined) w.u32(IFLA_VXLAN_LINK, v.underlayIndex);
  // Network byte order on the wire: 8472 goes out as 0x21 0x18 (if_link.h says __be16).
  if (v.port !== undefined && v.port !== 0) w.u16be(IFLA_VXLAN_PORT, v.port);
  if (v.learning !== undefined) w.u8(IFLA_VXLAN_LEARNING, v.learning ? 1 : 0);
  if (v.gbp === true) w.flag(IFLA_VXLAN_GBP);
  w.end();
}

/** `ip link del dev INDEX` */
export function encodeLinkDel(w: NlWriter, seq: number, index: number): void {
  w.msg(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  const hdr = w.reserve(IFINFOMSG_LEN);
  w.setI32(hdr + 4, index);
  w.end();
}

/** `ip link set dev INDEX up|down mtu N address MAC master M|nomaster` */
export function encodeLinkSet(w: NlWriter, seq: number, index: number, c: LinkChange): void {
  w.msg(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  const hdr = w.reserve(IFINFOMSG_LEN);
  w.setI32(hdr + 4, index);
  if (c.up !== undefined) {
    w.setU32(hdr + 8, c.up ? IFF_UP : 0); // ifi_flags
    w.setU32(hdr + 12, IFF_UP);            // ifi_change: only touch IFF_UP
  }
  if (c.mtu !== undefined) w.u32(IFLA_MTU, c.mtu);
  if (c.mac !== undefined) w.mac(IFLA_ADDRESS, c.mac, 'link mac');
  if (c.masterIndex !== undefined) w.u32(IFLA_MASTER, c.masterIndex);
  w.end();
}

/** RTM_GETLINK dump request (`ip link show`), or one link by name or index. */
export function encodeLinkGet(w: NlWriter, type: number, flags: number, seq: number, by?: { index?: number; name?: string }): void {
  w.msg(type, flags, seq);
  const hdr = w.reserve(IFINFOMSG_LEN);
  if (by?.index !== undefined) w.setI32(hdr + 4, by.index);
  if (by?.name !== undefined) w.str(IFLA_IFNAME, by.name);
  w.end();
}

const top = new AttrTable(IFLA_MAX_USED);
const info = new AttrTable(IFLA_INFO_DATA);
const vx = new AttrTable(IFLA_VXLAN_MAX_USED);

/** Decodes one RTM_NEWLINK/RTM_DELLINK message at buf[start, start+len). */
export function decodeLink(buf: Buffer, start: number, len: number): Link {
  const h = top.parseBody(buf, start, len, IFINFOMSG_LEN, 'ifinfomsg');
  const index = buf.readInt32LE(h + 4);
  const flags = buf.readUInt32LE(h + 8);
  let kind = '';
  let vxlan: VxlanInfo | undefined;
  const li = top.offset(IFLA_LINKINFO);
  if (li >= 0) {
    info.parse(buf, li, li + top.length(IFLA_LINKINFO));
    kind = info.str(IFLA_INFO_KIND) ?? '';
    const d = info.offset(IFLA_INFO_DATA);
    if (kind === 'vxlan' && d >= 0) {
      vx.parse(buf, d, d + info.length(IFLA_INFO_DATA));
      vxlan = decodeVxlan(vx);
    }
  }
  const master = top.u32(IFLA_MASTER);
  const link: { -readonly [K in keyof Link]: Link[K] } = {
    index,
    name: top.str(IFLA_IFNAME) ?? '',
    kind,
    mtu: top.u32(IFLA_MTU) ?? 0,
    up: (flags & IFF_UP) !== 0,
    lowerUp: (flags & IFF_LOWER_UP) !== 0,
    mac: top.mac(IFLA_ADDRESS) ?? '',
  };
  if (master !== undefined && master !== 0) link.masterIndex = master;
  if (vxlan !== undefined) link.vxlan = vxlan;
  return link;
}

function decodeVxlan(t: AttrTable): VxlanInfo {
  const v: { -readonly [K in keyof VxlanInfo]: VxlanInfo[K] } = { vni: t.u32(IFLA_VXLAN_ID) ?? 0 };
  const local = t.ip(IFLA_VXLAN_LOCAL) ?? t.ip(IFLA_VXLAN_LOCAL6);
  if (local !== undefined) v.local = local;
  const dev = t.u32(IFLA_VXLAN_LINK);
  if (dev !== undefined && dev !== 0) v.underlayIndex = dev;
  const port = t.u16be(IFLA_VXLAN_PORT);
  if (port !== undefined) v.port = port;
  const learning = t.u8(IFLA_VXLAN_LEARNING);
  if (learning !== undefined) v.learning = learning !== 0;
  v.gbp = t.has(IFLA_VXLAN_GBP);
  return v;
}

/** For error messages: what the request was about. */
export function describeLinkSpec(s: LinkSpec): string {
  const v = s.vxlan;
  const extra = v === undefined ? '' : ` id ${v.vni}${v.local === undefined ? '' : ` local ${v.local}`}${v.underlayIndex === undefined ? '' : ` dev ${v.underlayIndex}`}${v.port === undefined ? '' : ` dstport ${v.port}`}`;
  return `${s.name} type ${s.kind}${extra}`;
}
