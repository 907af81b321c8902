/**
 * `ip ntable show name arp_cache`: the IPv4 neighbour table's garbage-collection thresholds,
 * through RTM_GETNEIGHTBL. The table is one per host, so this answers in any network namespace;
 * /proc/sys/net/ipv4/neigh/default/gc_thresh* exists only in the host's.
 */
import { AF_INET, NDTA_NAME, NDTA_THRESH1, NDTA_THRESH2, NDTA_THRESH3, NDTMSG_LEN, RTM_GETNEIGHTBL, RTM_NEWNEIGHTBL } from './constants.ts';
import { NlSocket } from './socket.ts';

export interface NeighTableThresholds {
  /** 'arp_cache' for IPv4. */
  readonly name: string;
  readonly thresh1: number;
  readonly thresh2: number;
  readonly thresh3: number;
}

/** The thresholds of the IPv4 neighbour table (arp_cache); undefined if the kernel lists none. */
export async function ipv4NeighThresholds(opts: { netns?: string } = {}): Promise<NeighTableThresholds | undefined> {
  const sock = new NlSocket({ netns: opts.netns });
  try {
    const tables = await sock.exclusive(() =>
      sock.dump(
        RTM_GETNEIGHTBL,
        (w, type, flags, seq) => {
          w.msg(type, flags, seq);
          const h = w.reserve(NDTMSG_LEN);
          w.setU8(h, AF_INET);
          w.end();
        },
        (buf, start, len, type) => (type === RTM_NEWNEIGHTBL ? decodeTable(buf, start, len) : undefined),
      ),
    );
    return tables.find((t) => t.name === 'arp_cache' && t.thresh3 > 0);
  } finally {
    sock.close();
  }
}

/** Reads the table-wide attributes of one RTM_NEWNEIGHTBL (per-device ones carry no thresholds). */
export function decodeTable(buf: Buffer, start: number, len: number): NeighTableThresholds | undefined {
  let pos = start + 16 + NDTMSG_LEN;
  const end = start + len;
  let name = '';
  let thresh1 = 0;
  let thresh2 = 0;
  let thresh3 = 0;
  while (pos + 4 <= end) {
    const alen = buf.readUInt16LE(pos);
    const atype = buf.readUInt16LE(pos + 2) & 0x3fff;
    if (alen < 4 || pos + alen > end) break;
    const v = pos + 4;
    if (atype === NDTA_NAME) name = buf.toString('utf8', v, pos + alen).replace(/\0.*$/s, '');
    else if (alen >= 8 && atype === NDTA_THRESH1) thresh1 = buf.readUInt32LE(v);
    else if (alen >= 8 && atype === NDTA_THRESH2) thresh2 = buf.readUInt32LE(v);
    else if (alen >= 8 && atype === NDTA_THRESH3) thresh3 = buf.readUInt32LE(v);
    pos += (alen + 3) & ~3;
  }
  return name === '' ? undefined : { name, thresh1, thresh2, thresh3 };
}
