import { NLA_TYPE_MASK, NLMSG_HDRLEN } from './constants.ts';
import { NetlinkDecodeError } from './errors.ts';
import { formatIp, formatMac } from './addrtext.ts';

/**
 * Attribute table for one level of a netlink message: offsets and lengths of each attribute
 * payload by type, so a decoder reads only what it needs (lazily, no object per attribute).
 * One table per level is reused across messages; decoding is synchronous, so that is safe.
 * Bounds are checked once in parse(); getters then trust the table.
 */
export class AttrTable {
  private readonly off: Int32Array;
  private readonly len: Int32Array;
  private buf: Buffer = Buffer.alloc(0);

  /** `max`: the highest attribute type kept; higher ones are skipped (unknown to us). */
  constructor(max: number) {
    this.off = new Int32Array(max + 1).fill(-1);
    this.len = new Int32Array(max + 1);
  }

  /** Index the attributes in buf[start, end). Later duplicates win, as in the kernel's nla_parse. */
  parse(buf: Buffer, start: number, end: number): this {
    this.off.fill(-1);
    this.buf = buf;
    let pos = start;
    while (pos + 4 <= end) {
      const alen = buf.readUInt16LE(pos);
      if (alen < 4) throw new NetlinkDecodeError(`attribute length ${alen} < 4`, pos);
      if (pos + alen > end) throw new NetlinkDecodeError(`attribute of ${alen} bytes runs ${pos + alen - end} past its container`, pos);
      const type = buf.readUInt16LE(pos + 2) & NLA_TYPE_MASK;
      if (type < this.off.length) {
        this.off[type] = pos + 4;
        this.len[type] = alen - 4;
      }
      pos += (alen + 3) & ~3;
    }
    return this;
  }

  /**
   * The common start of a decoder: checks that the message at buf[start, start+len) holds a
   * fixed header of `headerLen` bytes (`what` names it in the error), indexes the attributes
   * after that header, and returns the header's offset.
   */
  parseBody(buf: Buffer, start: number, len: number, headerLen: number, what: string): number {
    if (len < NLMSG_HDRLEN + headerLen) throw new NetlinkDecodeError(`${what} needs ${headerLen} bytes, message body has ${len - NLMSG_HDRLEN}`, start);
    const h = start + NLMSG_HDRLEN;
    this.parse(buf, h + headerLen, start + len);
    return h;
  }

  has(t: number): boolean { return this.off[t]! >= 0; }
  /** Payload offset, -1 when absent. */
  offset(t: number): number { return this.off[t]!; }
  length(t: number): number { return this.off[t]! >= 0 ? this.len[t]! : -1; }

  u8(t: number): number | undefined { return this.fixed(t, 1) ? this.buf[this.off[t]!] : undefined; }
  u16be(t: number): number | undefined { return this.fixed(t, 2) ? this.buf.readUInt16BE(this.off[t]!) : undefined; }
  u32(t: number): number | undefined { return this.fixed(t, 4) ? this.buf.readUInt32LE(this.off[t]!) : undefined; }
  /** A string attribute, without its trailing NUL. */
  str(t: number): string | undefined {
    const at = this.off[t]!;
    if (at < 0) return undefined;
    let end = at + this.len[t]!;
    const nul = this.buf.indexOf(0, at);
    if (nul >= 0 && nul < end) end = nul;
    return this.buf.toString('utf8', at, end);
  }
  /** An IPv4 or IPv6 address attribute. */
  ip(t: number): string | undefined {
    const at = this.off[t]!;
    if (at < 0) return undefined;
    const n = this.len[t]!;
    if (n !== 4 && n !== 16) throw new NetlinkDecodeError(`address attribute ${t} is ${n} bytes, want 4 or 16`, at);
    return formatIp(this.buf, at, n);
  }
  mac(t: number): string | undefined {
    const at = this.off[t]!;
    return at < 0 ? undefined : formatMac(this.buf, at, this.len[t]!);
  }

  private fixed(t: number, n: number): boolean {
    const at = this.off[t]!;
    if (at < 0) return false;
    if (this.len[t]! < n) throw new NetlinkDecodeError(`attribute ${t} is ${this.len[t]} bytes, want ${n}`, at);
    return true;
  }
}

/**
 * Checks the netlink message header at `pos` and returns its length; throws when it is shorter
 * than a header or runs past `end`. The caller steps by (len + 3) & ~3.
 */
export function messageLength(buf: Buffer, pos: number, end: number): number {
  if (pos + NLMSG_HDRLEN > end) throw new NetlinkDecodeError(`${end - pos} bytes left, a message header needs 16`, pos);
  const len = buf.readUInt32LE(pos);
  if (len < NLMSG_HDRLEN) throw new NetlinkDecodeError(`message length ${len} < 16`, pos);
  if (pos + len > end) throw new NetlinkDecodeError(`message of ${len} bytes runs ${pos + len - end} past the data`, pos);
  return len;
}
