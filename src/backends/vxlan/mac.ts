import { randomBytes } from 'node:crypto';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Lowercase colon form, or undefined if `s` is not a 6-byte MAC. */
export function normalizeMac(s: string): string | undefined {
  const m = s.toLowerCase();
  return MAC.test(m) ? m : undefined;
}

/** A random locally administered unicast MAC, as upstream's pkg/mac does: (b0 & 0xfe) | 0x02. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * vxlan backend data exactly as upstream marshals it: key order VNI, VtepMAC, no spaces.
 * Upstream's MAC persistence parses this exact shape (§14 item 10), so keep it byte-exact.
 */
export function formatVxlanBackendData(vni: number, mac: string): string {
  return `{"VNI":${vni},"VtepMAC":"${mac}"}`;
}

/** The VtepMAC of a peer's backend data; undefined with a reason when it is unusable. */
export function parseVtepMac(backendData: string): { mac: string } | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(backendData);
  } catch {
    return { error: `backend-data is not JSON: ${JSON.stringify(backendData.slice(0, 80))}` };
  }
  const raw = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)['VtepMAC'] : undefined;
  if (typeof raw !== 'string') return { error: `backend-data has no VtepMAC string: ${backendData.slice(0, 80)}` };
  const mac = normalizeMac(raw);
  if (mac === undefined) return { error: `backend-data VtepMAC ${JSON.stringify(raw)} is not a MAC address` };
  if ((parseInt(mac.slice(0, 2), 16) & 1) !== 0 || mac === '00:00:00:00:00:00') {
    return { error: `backend-data VtepMAC ${mac} is not a unicast address` };
  }
  return { mac };
}
