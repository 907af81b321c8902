/**
 * MAC addresses as text (lowercase, colon-separated, as the netlink layer prints them) and
 * the VtepMAC inside a vxlan lease's backend-data. Shared by the subnet layer (the node's own
 * stored VtepMAC) and the vxlan backend (peers' VtepMACs), which must read it the same way.
 */

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Lowercase colon form, or undefined if `s` is not a 6-byte MAC. */
export function normalizeMac(s: string): string | undefined {
  const m = s.toLowerCase();
  return MAC.test(m) ? m : undefined;
}

/** Not a group (multicast/broadcast) address and not all zeros: usable as a device's own MAC. */
export function isUnicastMac(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 1) === 0 && mac !== '00:00:00:00:00:00';
}

/** The VtepMAC of vxlan backend-data (`{"VNI":1,"VtepMAC":"…"}`), normalised; else why not, naming `what` (backend-data, backend-v6-data). */
export function parseVtepMac(backendData: string, what = 'backend-data'): { mac: string } | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(backendData);
  } catch {
    return { error: `${what} is not JSON: ${JSON.stringify(backendData.slice(0, 80))}` };
  }
  const raw = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)['VtepMAC'] : undefined;
  if (typeof raw !== 'string') return { error: `${what} has no VtepMAC string: ${backendData.slice(0, 80)}` };
  const mac = normalizeMac(raw);
  if (mac === undefined) return { error: `${what} VtepMAC ${JSON.stringify(raw)} is not a MAC address` };
  return { mac };
}

/** The VtepMAC of backend-data, or undefined when there is none (absent, not JSON, not a MAC). */
export function vtepMacOf(backendData: string | undefined): string | undefined {
  if (backendData === undefined) return undefined;
  const parsed = parseVtepMac(backendData);
  return 'mac' in parsed ? parsed.mac : undefined;
}
