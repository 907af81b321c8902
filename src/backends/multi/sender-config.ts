import { UDP_DEFAULT_PORT, VXLAN_DEFAULT_VNI } from '../../config/backend-config.ts';
import type { BackendConfig, VxlanConfig } from '../../config/types.ts';
import type { Link } from '../../netlink/types.ts';
import type { Lease } from '../../subnet/lease.ts';
import type { BackendType } from './partition.ts';

/**
 * The config of a backend net-conf.json does not configure on this node (it runs to reach peers
 * that advertise it, or to keep receiving after a switch): the config it last ran with here,
 * else upstream's defaults — for vxlan with the VNI the peers publish in their backend-data
 * (a vxlan device must use the receiver's VNI; the port is not published, so 8472 is assumed).
 */
export function senderConfig(type: BackendType, remembered: BackendConfig | undefined, peers: Iterable<Lease>): BackendConfig {
  if (remembered !== undefined && remembered.type === type) {
    if (remembered.type !== 'vxlan') return remembered;
    // The receivers' VNI wins over the one this node last ran with (a device left from another config).
    const vni = peersVni(peers);
    return vni === undefined || vni === remembered.vni ? remembered : { ...remembered, vni };
  }
  switch (type) {
    case 'vxlan':
      return { type: 'vxlan', vni: peersVni(peers) ?? VXLAN_DEFAULT_VNI, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false };
    case 'host-gw':
      return { type: 'host-gw' };
    case 'udp':
      return { type: 'udp', port: UDP_DEFAULT_PORT };
  }
}

/** The VNI most vxlan peers publish (`{"VNI":1,"VtepMAC":"…"}`), or undefined when none says. */
export function peersVni(peers: Iterable<Lease>): number | undefined {
  const counts = new Map<number, number>();
  for (const l of peers) {
    const vni = vniOf(l.attrs.backendData ?? l.attrs.backendV6Data);
    if (vni !== undefined) counts.set(vni, (counts.get(vni) ?? 0) + 1);
  }
  let best: number | undefined;
  for (const [vni, n] of counts) if (best === undefined || n > counts.get(best)! || (n === counts.get(best)! && vni < best)) best = vni;
  return best;
}

function vniOf(data: string | undefined): number | undefined {
  if (data === undefined) return undefined;
  try {
    const v = (JSON.parse(data) as { VNI?: unknown } | null)?.VNI;
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffff ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The vxlan config a device left by an earlier run was made with (`flannel.<VNI>` or
 * `flannel-v6.<VNI>`), so that adopting it for draining keeps it as it is; undefined for
 * anything else. DirectRouting is not visible on a device: off.
 */
export function vxlanConfigOfDevice(link: Link, extMtu: number): VxlanConfig | undefined {
  const m = /^flannel(-v6)?\.(\d+)$/.exec(link.name);
  if (m === null || link.kind !== 'vxlan' || link.vxlan === undefined) return undefined;
  const overhead = m[1] === undefined ? 50 : 70;
  const base = link.mtu + overhead;
  return {
    type: 'vxlan',
    vni: link.vxlan.vni,
    port: link.vxlan.port === undefined || link.vxlan.port === 8472 ? 0 : link.vxlan.port,
    mtu: base === extMtu ? 0 : base,
    gbp: link.vxlan.gbp ?? false,
    learning: link.vxlan.learning ?? true,
    directRouting: false,
  };
}

/** Two configs of one backend are the same (field by field; key order does not matter). */
export function sameBackendConfig(a: BackendConfig, b: BackendConfig): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if ((a as unknown as Record<string, unknown>)[k] !== (b as unknown as Record<string, unknown>)[k]) return false;
  return true;
}
