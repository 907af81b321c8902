import { addressOf, containsAddress, familyOf, isIpv6Cidr, type IpCidr } from '../../ip/cidr.ts';
import type { Addr, Link, NetlinkHandle } from '../../netlink/types.ts';
import { afOf } from '../reconcile/peer-routes.ts';

/** The kernel's port when none is given (IANA says 4789; Linux kept the pre-standard 8472). */
export const VXLAN_DEFAULT_PORT = 8472;

/** What flannel.<VNI> (or flannel-v6.<VNI>) must look like. */
export interface VxlanDeviceSpec {
  readonly name: string;
  readonly vni: number;
  readonly local: string;
  readonly underlayIndex: number;
  /** Resolved: 0 in the config means 8472. */
  readonly port: number;
  readonly learning: boolean;
  readonly gbp: boolean;
  readonly mtu: number;
  readonly mac: string;
}

/**
 * Why an existing device cannot be adopted, as `field have vs want` (upstream's
 * vxlanLinksIncompat); undefined when it can. MTU, MAC and learning are not reasons: they
 * are corrected in place (learning by a recreate, see `drift`).
 */
export function incompatibility(link: Link, want: VxlanDeviceSpec): string | undefined {
  if (link.kind !== 'vxlan') return `type ${link.kind || 'none'} vs vxlan`;
  const v = link.vxlan;
  if (v === undefined) return 'vxlan attributes missing';
  if (v.vni !== want.vni) return `vni ${v.vni} vs ${want.vni}`;
  if ((v.local ?? '') !== want.local) return `local ${v.local ?? 'none'} vs ${want.local}`;
  if ((v.underlayIndex ?? 0) !== want.underlayIndex) return `dev index ${v.underlayIndex ?? 'none'} vs ${want.underlayIndex}`;
  if ((v.port ?? VXLAN_DEFAULT_PORT) !== want.port) return `port ${v.port ?? VXLAN_DEFAULT_PORT} vs ${want.port}`;
  if ((v.gbp ?? false) !== want.gbp) return `gbp ${v.gbp ?? false} vs ${want.gbp}`;
  // The kernel cannot change learning through RTM_SETLINK, and our netlink layer has no
  // changelink request yet, so a learning mismatch is fixed by recreating the device.
  if ((v.learning ?? true) !== want.learning) return `learning ${v.learning ?? true} vs ${want.learning}`;
  return undefined;
}

export type DeviceAction = 'adopted' | 'created' | 'recreated';

export interface EnsuredDevice {
  readonly link: Link;
  readonly action: DeviceAction;
  /** In-place corrections made ('mtu 1400 → 1450', 'mac …'). */
  readonly fixed: readonly string[];
  /** Set when the device was recreated: the reason. */
  readonly reason?: string;
}

/** Create flannel.N (flannel-v6.N), adopt it if compatible, or recreate it; never touches its neighbours/routes otherwise. */
export async function ensureDevice(nl: NetlinkHandle, want: VxlanDeviceSpec): Promise<EnsuredDevice> {
  let link = await nl.linkByName(want.name);
  let action: DeviceAction = 'adopted';
  let reason: string | undefined;
  if (link !== undefined) {
    reason = incompatibility(link, want);
    if (reason !== undefined) {
      await nl.linkDel(link.index);
      link = undefined;
      action = 'recreated';
    }
  } else {
    action = 'created';
  }
  if (link === undefined) {
    await nl.linkAdd({
      name: want.name,
      kind: 'vxlan',
      mtu: want.mtu,
      mac: want.mac,
      // Upstream's device: pkg/backend/vxlan/device.go builds netlink.LinkAttrs as a literal,
      // so TxQLen is 0, and vishvananda/netlink sends IFLA_TXQLEN whenever it is >= 0. A VXLAN
      // device has no qdisc of its own to fill; the kernel default (1000) only differs.
      txQueueLen: 0,
      vxlan: { vni: want.vni, local: want.local, underlayIndex: want.underlayIndex, port: want.port, learning: want.learning, gbp: want.gbp },
    });
    link = await nl.linkByName(want.name);
    if (link === undefined) throw new Error(`${want.name} vanished right after it was created`);
  }
  const fixed: string[] = [];
  if (link.mtu !== want.mtu) fixed.push(`mtu ${link.mtu} → ${want.mtu}`);
  if (link.mac !== want.mac) fixed.push(`mac ${link.mac} → ${want.mac}`);
  if (fixed.length > 0) {
    await nl.linkSet(link.index, { mtu: want.mtu, mac: want.mac });
    link = { ...link, mtu: want.mtu, mac: want.mac };
  }
  return reason === undefined ? { link, action, fixed } : { link, action, fixed, reason };
}

/**
 * Gives the device exactly one address of the own subnet's family inside the network: the own
 * subnet's network address as /32 (IPv4, no broadcast route) or /128 (IPv6, as upstream's
 * ConfigureIPv6), and deletes any other in-network address (a previous lease's). Addresses
 * outside the network (the kernel's IPv6 link-local) are someone else's. Then sets the device
 * up. Returns what changed.
 */
export async function ensureAddress(nl: NetlinkHandle, link: Link, own: IpCidr, network: IpCidr): Promise<string[]> {
  const want = addressOf(own);
  const af = afOf(familyOf(own));
  const len = isIpv6Cidr(own) ? 128 : 32;
  const addrs = await nl.addrList({ index: link.index, family: af });
  const changes: string[] = [];
  let present = false;
  const b = nl.batch();
  for (const a of addrs) {
    if (a.index !== link.index || a.family !== af) continue;
    if (a.address === want && a.prefixLen === len) {
      present = true;
      continue;
    }
    if (containsAddress(network, a.address)) {
      b.addrDel(a);
      changes.push(`removed IP address ${a.address}/${a.prefixLen}`);
    }
  }
  if (!present) {
    const addr: Addr = { index: link.index, family: af, address: want, prefixLen: len };
    b.addrAdd(addr);
    changes.push(`added ${want}/${len}`);
  }
  if (!link.up) {
    b.linkSet(link.index, { up: true });
    changes.push('set up');
  }
  if (b.size > 0) {
    const results = await b.run();
    const err = results.find((e) => e !== null && e.code !== 'EEXIST' && !(e.op.includes('DEL') && e.code === 'EADDRNOTAVAIL'));
    if (err) throw err;
  }
  return changes;
}
