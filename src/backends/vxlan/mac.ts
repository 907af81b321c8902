import { randomBytes } from 'node:crypto';
import { isUnicastMac, parseVtepMac } from '../../ip/mac.ts';

/** A random locally administered unicast MAC, as upstream's pkg/mac does: (b0 & 0xfe) | 0x02. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * vxlan backend data exactly as upstream marshals it: key order VNI, VtepMAC, no spaces.
 * Upstream's MAC persistence (GetStoredMacAddresses in pkg/subnet/kube/kube.go) does not parse
 * JSON but splits this exact text on `:"`, so keep it byte-exact or an upstream flanneld that
 * takes over the node picks a new random MAC.
 */
export function formatVxlanBackendData(vni: number, mac: string): string {
  return `{"VNI":${vni},"VtepMAC":"${mac}"}`;
}

/**
 * The VtepMAC of a peer's backend data; else why it is unusable. A peer's fdb entry needs a
 * unicast MAC, which the shared parser does not require of the node's own stored one.
 */
export function peerVtepMac(backendData: string, what = 'backend-data'): { mac: string } | { error: string } {
  const parsed = parseVtepMac(backendData, what);
  if ('mac' in parsed && !isUnicastMac(parsed.mac)) return { error: `${what} VtepMAC ${parsed.mac} is not a unicast address` };
  return parsed;
}
