import { NLA_F_NESTED } from './constants.ts';
import { parseIp4, writeIp6, writeMac } from './addrtext.ts';

/** Input an encoder cannot put into a message (a malformed address, a name too long). */
export class NetlinkEncodeError extends Error {
  override readonly name = 'NetlinkEncodeError';
}

/**
 * Netlink message encoder: one reusable, growable buffer; several messages may share it (one
 * sendmsg, one ack each). nest()/end() patch lengths in place, so nothing is allocated per
 * attribute. Every write method takes its offset *before* touching `this.buf`, because growing
 * replaces the buffer (STYLE "What flannel-ts should take" 6).
 */
export class NlWriter {
  private buf: Buffer;
  private pos = 0;
  /** Start offsets: the message, then open nests. */
  private readonly open: number[] = [];

  constructor(size = 64 * 1024) {
    this.buf = Buffer.alloc(size);
  }

  /** Bytes written so far. */
  get length(): number { return this.pos; }

  /** The current backing buffer; valid until the next write that grows it. */
  get buffer(): Buffer { return this.buf; }

  /** Begin a message; pid 0 lets the kernel fill it in. Length is patched by end(). */
  msg(type: number, flags: number, seq: number): this {
    const at = this.reserve(16);
    this.open.push(at);
    const b = this.buf;
    b.writeUInt16LE(type, at + 4);
    b.writeUInt16LE(flags, at + 6);
    b.writeUInt32LE(seq >>> 0, at + 8);
    return this;
  }

  /** Zeroed, 4-aligned room for a fixed header (ifinfomsg, rtmsg, ndmsg); returns its offset. */
  reserve(len: number): number {
    if (this.pos + len + 3 > this.buf.length) this.grow(len + 3);
    const at = this.pos;
    const next = (at + len + 3) & ~3;
    // A plain loop: for the 4–20 bytes of a header it beats Buffer.fill's call overhead.
    const b = this.buf;
    for (let i = at; i < next; i++) b[i] = 0;
    this.pos = next;
    return at;
  }

  setU8(at: number, v: number): void { this.buf[at] = v & 0xff; }
  setU16(at: number, v: number): void { this.buf.writeUInt16LE(v & 0xffff, at); }
  setU32(at: number, v: number): void { this.buf.writeUInt32LE(v >>> 0, at); }
  setI32(at: number, v: number): void { this.buf.writeInt32LE(v | 0, at); }

  u8(type: number, v: number): this { const at = this.attr(type, 1); this.buf[at] = v & 0xff; return this; }
  u16(type: number, v: number): this { const at = this.attr(type, 2); this.buf.writeUInt16LE(v & 0xffff, at); return this; }
  u16be(type: number, v: number): this { const at = this.attr(type, 2); this.buf.writeUInt16BE(v & 0xffff, at); return this; }
  u32(type: number, v: number): this {
    const at = this.attr(type, 4);
    const b = this.buf;
    b[at] = v & 0xff; b[at + 1] = (v >>> 8) & 0xff; b[at + 2] = (v >>> 16) & 0xff; b[at + 3] = v >>> 24;
    return this;
  }
  /** A zero-length NLA_FLAG attribute. */
  flag(type: number): this { this.attr(type, 0); return this; }
  bytes(type: number, v: Uint8Array): this { const at = this.attr(type, v.length); this.buf.set(v, at); return this; }
  /** NUL-terminated string. */
  str(type: number, v: string): this {
    const n = Buffer.byteLength(v);
    const at = this.attr(type, n + 1);
    this.buf.write(v, at);
    return this;
  }
  /** An IPv4 (4 bytes) or IPv6 (16 bytes) address from text; `field` names it in errors. */
  ip(type: number, v: string, field: string): this {
    const v4 = parseIp4(v);
    if (v4 >= 0) {
      const at = this.attr(type, 4);
      const b = this.buf;
      b[at] = v4 >>> 24; b[at + 1] = (v4 >>> 16) & 0xff; b[at + 2] = (v4 >>> 8) & 0xff; b[at + 3] = v4 & 0xff;
      return this;
    }
    if (v.includes(':')) {
      const at = this.attr(type, 16);
      if (writeIp6(v, this.buf, at)) return this;
    }
    throw new NetlinkEncodeError(`${field}: "${v}" is not an IP address`);
  }
  /** A MAC `aa:bb:cc:dd:ee:ff` as 6 bytes. */
  mac(type: number, v: string, field: string): this {
    const at = this.attr(type, 6);
    if (!writeMac(v, this.buf, at)) throw new NetlinkEncodeError(`${field}: "${v}" is not a MAC address (want aa:bb:cc:dd:ee:ff)`);
    return this;
  }

  nest(type: number): this {
    this.open.push(this.attr(type | NLA_F_NESTED, 0) - 4);
    return this;
  }

  /** Close the innermost nest, or the message when no nest is open. */
  end(): this {
    const start = this.open.pop();
    if (start === undefined) throw new Error('NlWriter.end(): nothing open');
    const len = this.pos - start;
    if (this.open.length === 0) this.buf.writeUInt32LE(len, start);
    else if (len > 0xffff) throw new NetlinkEncodeError(`nested attribute is ${len} bytes, max 65535`);
    else this.buf.writeUInt16LE(len, start);
    return this;
  }

  /** Where the next message starts; pass to rollback() to drop a message that failed to encode. */
  mark(): number { return this.pos; }
  rollback(mark: number): void { this.pos = mark; this.open.length = 0; }

  /** A view of what was written; valid until reset() or the next write. */
  finish(): Buffer {
    if (this.open.length !== 0) throw new Error(`NlWriter.finish(): ${this.open.length} still open`);
    return this.buf.subarray(0, this.pos);
  }

  reset(): void {
    this.pos = 0;
    this.open.length = 0;
  }

  /** Header plus zeroed payload and padding; returns the payload offset. */
  private attr(type: number, len: number): number {
    if (len > 0xffff - 4) throw new NetlinkEncodeError(`attribute ${type} is ${len} bytes, max 65531`);
    const at = this.reserve(4 + len);
    const b = this.buf, n = 4 + len;
    b[at] = n & 0xff; b[at + 1] = n >> 8;
    b[at + 2] = type & 0xff; b[at + 3] = type >> 8;
    return at + 4;
  }

  private grow(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}
