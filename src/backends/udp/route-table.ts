import type { Ipv4Cidr } from '../../ip/ipv4.ts';

export interface RouteEntry {
  readonly subnet: Ipv4Cidr;
  /** The peer's public IP as an unsigned or signed 32-bit integer. */
  readonly hop: number;
}

/**
 * Pod subnet → peer public IP, with int32 keys (Smis in V8). Built whole when leases change
 * and swapped in, never edited, so the packet loop reads it without locks or copies.
 * flannel gives every node the same subnet length, so there is normally one prefix length
 * and one Map lookup per packet; mixed lengths are tried longest first.
 */
export class RouteTable {
  private readonly masks: Int32Array;
  private readonly tables: Map<number, number>[];
  private readonly peers: Set<number>;

  private constructor(masks: Int32Array, tables: Map<number, number>[], peers: Set<number>) {
    this.masks = masks;
    this.tables = tables;
    this.peers = peers;
  }

  /**
   * `sources`: more public IPs (int32) datagrams are accepted from, besides the next hops:
   * peers reached over another backend still send with udp while this node advertises it.
   */
  static build(entries: Iterable<RouteEntry>, sources: Iterable<number> = []): RouteTable {
    const byLen = new Map<number, Map<number, number>>();
    const peers = new Set<number>();
    for (const s of sources) peers.add(s | 0);
    for (const e of entries) {
      const mask = maskInt(e.subnet.prefixLen);
      let t = byLen.get(e.subnet.prefixLen);
      if (t === undefined) byLen.set(e.subnet.prefixLen, (t = new Map()));
      t.set(e.subnet.ip & mask, e.hop | 0);
      peers.add(e.hop | 0);
    }
    const lens = [...byLen.keys()].sort((a, b) => b - a);
    return new RouteTable(Int32Array.from(lens, maskInt), lens.map((l) => byLen.get(l)!), peers);
  }

  static readonly empty: RouteTable = RouteTable.build([]);

  /** The next hop for `dst` (int32), or 0 when no subnet contains it. */
  lookup(dst: number): number {
    const masks = this.masks;
    for (let i = 0; i < masks.length; i++) {
      const hop = this.tables[i]!.get(dst & masks[i]!);
      if (hop !== undefined) return hop;
    }
    return 0;
  }

  /** True when `src` (int32) is the public IP of a peer in this table. */
  isPeer(src: number): boolean {
    return this.peers.has(src);
  }

  get size(): number {
    let n = 0;
    for (const t of this.tables) n += t.size;
    return n;
  }
}

function maskInt(prefixLen: number): number {
  return prefixLen === 0 ? 0 : -1 << (32 - prefixLen);
}
