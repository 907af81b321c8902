/**
 * Address text ↔ bytes for the codec, written straight into / read straight from a Buffer so
 * encoding a request allocates nothing. IPv4 dotted quads, IPv6 (RFC 5952 on output), MACs as
 * lowercase `aa:bb:cc:dd:ee:ff`.
 */

/** Parses a dotted quad into an unsigned 32-bit number; -1 when it is not one. */
export function parseIp4(s: string): number {
  let v = 0, part = -1, parts = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (part < 0 || parts === 3) return -1;
      v = v * 256 + part; parts++; part = -1;
    } else if (c >= 48 && c <= 57) {
      part = part < 0 ? c - 48 : part * 10 + (c - 48);
      if (part > 255) return -1;
    } else return -1;
  }
  if (part < 0 || parts !== 3) return -1;
  return v * 256 + part;
}

export function formatIp4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** Writes a textual IPv6 address as 16 bytes at `at`; false when it is not one. */
export function writeIp6(s: string, out: Uint8Array, at: number): boolean {
  const dbl = s.indexOf('::');
  if (dbl !== s.lastIndexOf('::')) return false;
  const head = dbl < 0 ? s : s.slice(0, dbl);
  const tail = dbl < 0 ? '' : s.slice(dbl + 2);
  const hg = head === '' ? [] : head.split(':');
  const tg = tail === '' ? [] : tail.split(':');
  const groups: number[] = [];
  const push = (list: string[]): boolean => {
    for (let i = 0; i < list.length; i++) {
      const g = list[i]!;
      if (g.includes('.')) {             // embedded IPv4 in the last position
        if (i !== list.length - 1) return false;
        const v4 = parseIp4(g);
        if (v4 < 0) return false;
        groups.push(Math.floor(v4 / 65536), v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
        groups.push(parseInt(g, 16));
      }
    }
    return true;
  };
  if (!push(hg)) return false;
  const headLen = groups.length;
  if (!push(tg)) return false;
  const missing = 8 - groups.length;
  if (dbl < 0 ? missing !== 0 : missing < 1) return false;
  const full = [...groups.slice(0, headLen), ...new Array<number>(dbl < 0 ? 0 : missing).fill(0), ...groups.slice(headLen)];
  for (let i = 0; i < 8; i++) { out[at + 2 * i] = full[i]! >> 8; out[at + 2 * i + 1] = full[i]! & 0xff; }
  return true;
}

/** RFC 5952: lowercase, longest run (≥ 2) of zero groups as '::'. */
export function formatIp6(b: Uint8Array, at: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[at + 2 * i]! << 8) | b[at + 2 * i + 1]!);
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = (from: number, to: number): string => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

/** An IP address of either family at b[at, at+len): 4 or 16 bytes. */
export function formatIp(b: Uint8Array, at: number, len: number): string {
  return len === 4 ? formatIp4(b, at) : formatIp6(b, at);
}

const HEX = '0123456789abcdef';

export function formatMac(b: Uint8Array, at: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) {
    const x = b[at + i]!;
    s += (i === 0 ? '' : ':') + HEX[x >> 4]! + HEX[x & 15]!;
  }
  return s;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Writes `aa:bb:cc:dd:ee:ff` as 6 bytes; false when it is not one. */
export function writeMac(s: string, out: Uint8Array, at: number): boolean {
  if (s.length !== 17) return false;
  for (let i = 0; i < 6; i++) {
    const hi = hexVal(s.charCodeAt(3 * i)), lo = hexVal(s.charCodeAt(3 * i + 1));
    if (hi < 0 || lo < 0 || (i < 5 && s.charCodeAt(3 * i + 2) !== 58)) return false;
    out[at + i] = (hi << 4) | lo;
  }
  return true;
}

/** Splits 'a.b.c.d/n' (or v6) at the slash; prefix -1 when malformed. */
export function splitCidr(s: string): { ip: string; prefixLen: number } {
  const slash = s.indexOf('/');
  if (slash < 0) return { ip: s, prefixLen: -1 };
  const t = s.slice(slash + 1);
  const n = /^\d{1,3}$/.test(t) ? Number(t) : -1;
  return { ip: s.slice(0, slash), prefixLen: n };
}
