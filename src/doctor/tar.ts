import { gzipSync } from 'node:zlib';

/** One regular file of an archive. */
export interface TarEntry {
  /** Relative path with `/` separators, up to 255 bytes. */
  readonly name: string;
  readonly data: string | Buffer;
  /** Default 0o644. */
  readonly mode?: number;
}

const BLOCK = 512;

/**
 * A POSIX ustar archive of regular files, gzipped: what `tar -xzf` reads. Small enough to write
 * here rather than add a dependency to the image for one diagnostic command.
 */
export function tarGz(entries: readonly TarEntry[], mtime: Date = new Date()): Buffer {
  const parts: Buffer[] = [];
  const seconds = Math.floor(mtime.getTime() / 1000);
  for (const e of entries) {
    const data = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data;
    parts.push(header(e.name, data.length, e.mode ?? 0o644, seconds), data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return gzipSync(Buffer.concat(parts));
}

function header(name: string, size: number, mode: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length === 0 || name.startsWith('/') || name.split('/').includes('..')) throw new Error(`tar: bad entry name ${JSON.stringify(name)}`);
  let base = name;
  let prefix = '';
  if (bytes.length > 100) {
    // ustar splits long names at a '/' into prefix (155) and name (100).
    const cut = name.lastIndexOf('/', name.length - 1);
    const at = [...name.matchAll(/\//g)].map((m) => m.index!).find((i) => Buffer.byteLength(name.slice(0, i)) <= 155 && Buffer.byteLength(name.slice(i + 1)) <= 100);
    if (at === undefined || cut < 0) throw new Error(`tar: entry name too long: ${name}`);
    prefix = name.slice(0, at);
    base = name.slice(at + 1);
  }
  h.write(base, 0, 100, 'utf8');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h[156] = 0x30; // '0': regular file
  h.write('ustar\0', 257, 6, 'latin1');
  h.write('00', 263, 2, 'latin1');
  h.write('root', 265, 32, 'utf8');
  h.write('root', 297, 32, 'utf8');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

function octal(buf: Buffer, off: number, len: number, value: number): void {
  const text = Math.floor(value).toString(8).padStart(len - 1, '0');
  if (text.length > len - 1) throw new Error(`tar: value ${value} does not fit ${len - 1} octal digits`);
  buf.write(text + '\0', off, len, 'latin1');
}
