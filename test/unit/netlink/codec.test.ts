import { describe, expect, it } from 'vitest';
import { NlWriter, NetlinkEncodeError } from '../../../src/netlink/writer.ts';
import { AttrTable, messageLength } from '../../../src/netlink/reader.ts';
import { NetlinkDecodeError } from '../../../src/netlink/errors.ts';
import { decodeLink, encodeLinkAdd } from '../../../src/netlink/link.ts';
import { decodeRoute, encodeRoute } from '../../../src/netlink/route.ts';
import { decodeNeigh, encodeNeigh } from '../../../src/netlink/neigh.ts';
import { decodeAddr, encodeAddr } from '../../../src/netlink/addr.ts';
import { parseAck } from '../../../src/netlink/socket.ts';
import { decodeChange } from '../../../src/netlink/monitor.ts';
import {
  BRIDGE_FDB_REPLACE, IP_NEIGH_REPLACE, IP_ROUTE_ADD_ONLINK, KERNEL_ADDR_UL0, KERNEL_LINK_VXLAN, KERNEL_NEIGH_ARP,
  KERNEL_NEIGH_FDB, KERNEL_ROUTE_ONLINK,
} from './testdata/golden.ts';
import { AF_BRIDGE, AF_INET, NTF_SELF, NUD_NOARP, NUD_PERMANENT, type Route } from '../../../src/netlink/types.ts';
import { RTM_DELROUTE, RTM_NEWLINK } from '../../../src/netlink/constants.ts';

const encoded = (f: (w: NlWriter) => void): Buffer => {
  const w = new NlWriter(16); // tiny, so encoders must survive growth mid-message
  f(w);
  return Buffer.from(w.finish());
};

describe('encoders match iproute2 byte for byte', () => {
  it('ip route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink', () => {
    const b = encoded((w) => encodeRoute(w, 0, 'add', { family: AF_INET, dst: '10.244.2.0/24', gateway: '10.244.2.0', oif: 4, onlink: true }));
    expect(b.toString('hex')).toBe(IP_ROUTE_ADD_ONLINK.toString('hex'));
  });
  it('ip neigh replace … nud permanent', () => {
    const b = encoded((w) => encodeNeigh(w, 0, 'set', { index: 4, family: AF_INET, ip: '10.244.2.0', mac: '0a:58:0a:f4:02:00', state: NUD_PERMANENT }));
    expect(b.toString('hex')).toBe(IP_NEIGH_REPLACE.toString('hex'));
  });
  it('bridge fdb replace … dst 198.18.0.3 self permanent', () => {
    const b = encoded((w) => encodeNeigh(w, 0, 'set', { index: 4, family: AF_BRIDGE, ip: '198.18.0.3', mac: '0a:58:0a:f4:02:00', state: NUD_PERMANENT | NUD_NOARP, flags: NTF_SELF }));
    expect(b.toString('hex')).toBe(BRIDGE_FDB_REPLACE.toString('hex'));
  });
  it('vxlan port goes out in network byte order and learning as u8', () => {
    const b = encoded((w) => encodeLinkAdd(w, 7, { name: 'flannel.1', kind: 'vxlan', vxlan: { vni: 1, local: '198.18.0.2', underlayIndex: 3, port: 8472, learning: false, gbp: true } }));
    const hex = b.toString('hex');
    expect(hex).toContain('06000f002118'); // IFLA_VXLAN_PORT, 8472 = 0x2118 big-endian
    expect(hex).toContain('050007000'); // IFLA_VXLAN_LEARNING = 0
    expect(hex).toContain('04001700'); // IFLA_VXLAN_GBP flag, no payload
    expect(hex).toContain('08000400c6120002'); // IFLA_VXLAN_LOCAL 198.18.0.2
    expect(b.readUInt32LE(0)).toBe(b.length);
    expect(b.readUInt32LE(8)).toBe(7);
  });
  it('an IPv6 vxlan source goes out as IFLA_VXLAN_LOCAL6 (16 bytes), never as the 4-byte IFLA_VXLAN_LOCAL', () => {
    const b = encoded((w) => encodeLinkAdd(w, 7, { name: 'flannel-v6.1', kind: 'vxlan', vxlan: { vni: 1, local: 'fd00:198:18::11', underlayIndex: 3, port: 8472, learning: false } }));
    const hex = b.toString('hex');
    expect(hex).toContain('14001100fd000198001800000000000000000011'); // IFLA_VXLAN_LOCAL6 (17), 16 bytes
    expect(hex).not.toContain('08000400');
    expect(decodeLink(b, 0, b.length).vxlan?.local).toBe('fd00:198:18::11');
  });
  it('a veth peer namespace goes out as the fd the caller opened; the encoder opens nothing', () => {
    // A namespace that does not exist: an encoder that opened it would throw ENOENT.
    const spec = { name: 'ul0', kind: 'veth', peerName: 'ul0p', peerNetns: 'no-such-netns-ftest' } as const;
    const hex = encoded((w) => encodeLinkAdd(w, 1, spec, 0x2a)).toString('hex');
    expect(hex).toContain('08001c002a000000'); // IFLA_NET_NS_FD (28) = 42, inside VETH_INFO_PEER
    expect(() => encoded((w) => encodeLinkAdd(w, 1, spec))).toThrow(NetlinkEncodeError);
  });
});

describe('decoders read real kernel messages', () => {
  it('RTM_NEWLINK vxlan', () => {
    expect(messageLength(KERNEL_LINK_VXLAN, 0, KERNEL_LINK_VXLAN.length)).toBe(KERNEL_LINK_VXLAN.length);
    expect(decodeLink(KERNEL_LINK_VXLAN, 0, KERNEL_LINK_VXLAN.length)).toEqual({
      index: 4, name: 'flannel.1', kind: 'vxlan', mtu: 1450, up: true, lowerUp: true, mac: '86:63:99:39:ee:a8',
      vxlan: { vni: 1, local: '198.18.0.2', underlayIndex: 3, port: 8472, learning: false, gbp: false },
    });
  });
  it('RTM_NEWROUTE onlink', () => {
    expect(decodeRoute(KERNEL_ROUTE_ONLINK, 0, KERNEL_ROUTE_ONLINK.length)).toEqual({
      family: AF_INET, dst: '10.244.2.0/24', gateway: '10.244.2.0', oif: 4, onlink: true, table: 254, protocol: 3, scope: 0, type: 1,
    });
  });
  it('RTM_NEWNEIGH arp and fdb', () => {
    expect(decodeNeigh(KERNEL_NEIGH_ARP, 0, KERNEL_NEIGH_ARP.length)).toEqual({ index: 4, family: AF_INET, ip: '10.244.2.0', mac: '0a:58:0a:f4:02:00', state: NUD_PERMANENT, flags: 0 });
    expect(decodeNeigh(KERNEL_NEIGH_FDB, 0, KERNEL_NEIGH_FDB.length)).toEqual({ index: 4, family: AF_BRIDGE, ip: '198.18.0.3', mac: '0a:58:0a:f4:02:00', state: NUD_PERMANENT | NUD_NOARP, flags: NTF_SELF });
  });
  it('RTM_NEWADDR', () => {
    expect(decodeAddr(KERNEL_ADDR_UL0, 0, KERNEL_ADDR_UL0.length)).toEqual({ index: 3, family: AF_INET, address: '198.18.0.2', prefixLen: 24, flags: 0x80, scope: 0 });
  });
  it('monitor maps message types to changes', () => {
    const del = Buffer.from(KERNEL_ROUTE_ONLINK);
    del.writeUInt16LE(RTM_DELROUTE, 4);
    expect(decodeChange(del, 0, del.length, RTM_DELROUTE)).toMatchObject({ kind: 'route', deleted: true, route: { dst: '10.244.2.0/24' } });
    expect(decodeChange(KERNEL_LINK_VXLAN, 0, KERNEL_LINK_VXLAN.length, RTM_NEWLINK)).toMatchObject({ kind: 'link', deleted: false, link: { name: 'flannel.1' } });
  });
});

describe('round trips', () => {
  const routes: Route[] = [
    { family: AF_INET, dst: '10.244.2.0/24', gateway: '10.244.2.0', oif: 4, onlink: true, table: 254, protocol: 3, scope: 0, type: 1 },
    { family: AF_INET, dst: '10.244.0.0/16', oif: 9, table: 1000, protocol: 4, scope: 253, type: 1, src: '10.244.1.0', priority: 100 },
    { family: AF_INET, gateway: '198.18.0.1', oif: 2, table: 254, protocol: 3, scope: 0, type: 1 },
    { family: 10, dst: 'fd00:10:244::/64', gateway: 'fe80::1', oif: 2, table: 254, protocol: 3, scope: 0, type: 1 },
  ];
  for (const r of routes) {
    it(`route ${r.dst ?? 'default'}`, () => {
      const b = encoded((w) => encodeRoute(w, 1, 'replace', r));
      expect(decodeRoute(b, 0, b.length)).toEqual(r);
    });
  }
  it('neigh and addr', () => {
    const n = { index: 5, family: AF_BRIDGE, ip: '198.18.0.9', mac: 'aa:bb:cc:dd:ee:ff', state: NUD_PERMANENT, flags: NTF_SELF } as const;
    const nb = encoded((w) => encodeNeigh(w, 1, 'set', n));
    expect(decodeNeigh(nb, 0, nb.length)).toEqual(n);
    const a = { index: 4, family: AF_INET, address: '10.244.1.0', prefixLen: 32, flags: 0x280, scope: 0 } as const;
    const ab = encoded((w) => encodeAddr(w, 1, 'add', a));
    expect(decodeAddr(ab, 0, ab.length)).toEqual(a);
  });
  it('link add decodes back (dummy and vxlan)', () => {
    const b = encoded((w) => encodeLinkAdd(w, 1, { name: 'flannel.1', kind: 'vxlan', mtu: 1450, mac: '0a:58:0a:f4:01:00', vxlan: { vni: 7, local: '198.18.0.2', underlayIndex: 3, port: 4789, learning: true, gbp: true } }));
    expect(decodeLink(b, 0, b.length)).toEqual({
      index: 0, name: 'flannel.1', kind: 'vxlan', mtu: 1450, up: false, lowerUp: false, mac: '0a:58:0a:f4:01:00',
      vxlan: { vni: 7, local: '198.18.0.2', underlayIndex: 3, port: 4789, learning: true, gbp: true },
    });
  });
});

describe('bad input', () => {
  it('encoders reject malformed addresses with the field named, and roll back cleanly', () => {
    const w = new NlWriter(64);
    encodeNeigh(w, 1, 'set', { index: 1, family: AF_INET, ip: '10.0.0.1', mac: '0a:58:0a:f4:02:00', state: NUD_PERMANENT });
    const mark = w.mark();
    expect(() => encodeRoute(w, 2, 'add', { family: AF_INET, dst: '10.244.2.0/24', gateway: '10.244.2.300' })).toThrow(/route gateway: "10.244.2.300" is not an IP address/);
    w.rollback(mark);
    expect(() => encodeNeigh(w, 3, 'set', { index: 1, family: AF_INET, ip: '10.0.0.1', mac: '0a:58', state: 0 })).toThrow(NetlinkEncodeError);
    w.rollback(mark);
    expect(() => encodeRoute(w, 2, 'add', { family: AF_INET, dst: '10.244.2.0/33' })).toThrow(/prefix length/);
    w.rollback(mark);
    expect(w.finish().toString('hex')).toBe(encoded((x) => encodeNeigh(x, 1, 'set', { index: 1, family: AF_INET, ip: '10.0.0.1', mac: '0a:58:0a:f4:02:00', state: NUD_PERMANENT })).toString('hex'));
  });
  it('every truncation of a real message throws NetlinkDecodeError, never anything else', () => {
    for (const golden of [KERNEL_LINK_VXLAN, KERNEL_ROUTE_ONLINK, KERNEL_NEIGH_FDB, KERNEL_ADDR_UL0]) {
      for (let cut = 0; cut < golden.length; cut++) {
        const b = golden.subarray(0, cut);
        expect(() => messageLength(b, 0, b.length)).toThrow(NetlinkDecodeError);
      }
    }
  });
  it('decoding a message cut at every byte inside its attributes throws only NetlinkDecodeError', () => {
    let threw = 0;
    for (const [golden, dec] of [[KERNEL_LINK_VXLAN, decodeLink], [KERNEL_ROUTE_ONLINK, decodeRoute], [KERNEL_NEIGH_FDB, decodeNeigh], [KERNEL_ADDR_UL0, decodeAddr]] as const) {
      for (let cut = 0; cut < golden.length; cut++) {
        try { dec(golden, 0, cut); } catch (e) { expect(e).toBeInstanceOf(NetlinkDecodeError); threw++; }
      }
    }
    expect(threw).toBeGreaterThan(1000);
  });
  it('a message whose length field lies is caught by the attribute bounds', () => {
    const b = Buffer.from(KERNEL_LINK_VXLAN);
    // shrink the first attribute's container: an attribute now runs past the end
    expect(() => decodeLink(b, 0, 40)).toThrow(NetlinkDecodeError);
    expect(() => decodeRoute(b, 0, 20)).toThrow(/rtmsg needs 12 bytes/);
  });
  it('random garbage gives NetlinkDecodeError or a value, never another exception', () => {
    let seed = 12345;
    const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
    for (let i = 0; i < 3000; i++) {
      const len = 16 + (rnd() % 200);
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = rnd() & 0xff;
      // a plausible header, garbage attributes
      b.writeUInt32LE(len, 0);
      for (const dec of [decodeLink, decodeRoute, decodeNeigh, decodeAddr]) {
        try { dec(b, 0, len); } catch (e) { expect(e).toBeInstanceOf(NetlinkDecodeError); }
      }
    }
  });
  it('AttrTable rejects an attribute shorter than its header', () => {
    const b = Buffer.from('0200010000000000', 'hex');
    expect(() => new AttrTable(4).parse(b, 0, b.length)).toThrow(/attribute length 2 < 4/);
  });
});

describe('acks', () => {
  it('reads errno and extack text from a capped NLMSG_ERROR with TLVs', () => {
    // nlmsghdr(len, NLMSG_ERROR, CAPPED|ACK_TLVS) + error -101 + capped request header + NLMSGERR_ATTR_MSG
    const msg = 'Nexthop has invalid gateway\0';
    const alen = 4 + msg.length;
    const total = 16 + 20 + ((alen + 3) & ~3);
    const b = Buffer.alloc(total);
    b.writeUInt32LE(total, 0); b.writeUInt16LE(2, 4); b.writeUInt16LE(0x300, 6); b.writeUInt32LE(9, 8);
    b.writeInt32LE(-101, 16); b.writeUInt32LE(52, 20); b.writeUInt16LE(24, 24);
    b.writeUInt16LE(alen, 36); b.writeUInt16LE(1, 38); b.write(msg, 40);
    expect(parseAck(b, 0, total)).toEqual({ errno: 101, extack: 'Nexthop has invalid gateway' });
  });
});
