/**
 * How the native addon fails, against the real kernel: a refused system call arrives as the
 * one typed error (errno, code, op, target) that isErrno matches, like netlink's KernelError;
 * a wrong argument is a TypeError naming the function and the argument. The TUN and UDP cases
 * run in a child process inside a network namespace this file creates (ftnat-<pid>) and always
 * removes. Needs root.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatapath } from '../../src/native/datapath-native.ts';
import { netlinkNative } from '../../src/native/netlink-native.ts';
import { KernelError, openNetlink } from '../../src/netlink/index.ts';
import { isErrno } from '../../src/util/errors.ts';

const ns = `ftnat-${process.pid}`;
const isRoot = process.getuid?.() === 0;
const src = (path: string): string => fileURLToPath(new URL(`../../src/${path}`, import.meta.url));

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The error `fn` throws (the test fails if it does not throw). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw, the call returned');
}

/** What a failed call in the namespace threw: its fields, and whether isErrno matches it there. */
interface Seen {
  readonly name: string;
  readonly message: string;
  readonly errno: number;
  readonly code: string;
  readonly op: string;
  readonly target: string;
  readonly matched: boolean;
}

/** Runs the calls in a child process inside `ns` (TUN devices and sockets live in a netns). */
function inNamespace(): { busy: Seen; bind: Seen } {
  const script = `
    import { loadDatapath } from ${JSON.stringify(src('native/datapath-native.ts'))};
    import { isErrno } from ${JSON.stringify(src('util/errors.ts'))};
    const nat = loadDatapath();
    const seen = (fn, code) => {
      try { fn(); } catch (e) {
        return { name: e.name, message: e.message, errno: e.errno, code: e.code, op: e.op, target: e.target, matched: isErrno(e, code) };
      }
      return null;
    };
    const first = nat.tunOpen('fltest0', false);
    const busy = seen(() => nat.tunOpen('fltest0', false), 'EBUSY');
    nat.closeFd(first.fd);
    const bound = nat.udpOpen(0, 8285, 65536, false, false);
    const bind = seen(() => nat.udpOpen(0, 8285, 65536, false, false), 'EADDRINUSE');
    nat.closeFd(bound.fd);
    process.stdout.write(JSON.stringify({ busy, bind }));
  `;
  const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out) as { busy: Seen; bind: Seen };
}

describe.skipIf(!isRoot)('native addon failures', () => {
  let seen: { busy: Seen; bind: Seen };
  beforeAll(() => {
    sh('ip', 'netns', 'add', ns);
    seen = inNamespace();
  });
  afterAll(() => {
    try { sh('ip', 'netns', 'del', ns); } catch { /* already gone */ }
  });

  it('a TUN held by another fd is EBUSY with the ioctl and the device name', () => {
    expect(seen.busy).toEqual({
      name: 'NativeError',
      message: 'TUNSETIFF fltest0: EBUSY (Device or resource busy)',
      errno: 16,
      code: 'EBUSY',
      op: 'TUNSETIFF',
      target: 'fltest0',
      matched: true,
    });
  });

  it('a UDP port already bound is EADDRINUSE with the address', () => {
    expect(seen.bind).toMatchObject({ name: 'NativeError', errno: 98, code: 'EADDRINUSE', op: 'bind', target: '0.0.0.0:8285', matched: true });
  });

  it('a poller for a closed fd is EBADF from libuv, as the same error', () => {
    const e = thrown(() => loadDatapath().pollStart(-1, 1, () => {}));
    expect(isErrno(e, 'EBADF')).toBe(true);
    expect(e).toMatchObject({ name: 'NativeError', errno: 9, op: 'uv_poll_init', target: 'fd -1' });
  });

  it('a netlink socket in a namespace that does not exist is a KernelError that isErrno matches', () => {
    const e = thrown(() => openNetlink({ netns: `${ns}-missing` }));
    expect(e).toBeInstanceOf(KernelError);
    expect(isErrno(e, 'ENOENT')).toBe(true);
    expect(e).toMatchObject({ errno: 2, code: 'ENOENT', op: 'socket(AF_NETLINK)' });
    expect(netlinkNative().nlOpen(`/run/netns/${ns}-missing`, 0)).toBe(-2);
  });

  it('a wrong argument is a TypeError naming the function and the argument, for both halves alike', () => {
    const nl = netlinkNative();
    const dp = loadDatapath();
    const cases: [() => unknown, string, string][] = [
      // netlink.c used to report these only as a generic usage line.
      [() => nl.nlSetsockoptInt(0, 'SOL_SOCKET' as unknown as number, 8, 1), 'nlSetsockoptInt: level must be a number', 'ERR_INVALID_ARG_TYPE'],
      [() => nl.nlSend(0, Buffer.alloc(16), 17), 'nlSend: length is outside the buffer', 'ERR_INVALID_ARG_VALUE'],
      [() => nl.nlRecv(0, Buffer.alloc(1024), new Int32Array(3)), 'nlRecv: buf must hold at least 64 KiB', 'ERR_INVALID_ARG_VALUE'],
      [() => (nl.nlOpen as (...a: unknown[]) => number)(null), 'nlOpen: expected 2 arguments, got 1', 'ERR_MISSING_ARGS'],
      // datapath.c used to say only "expected a number" / throw a RangeError without a name.
      [() => dp.tunRead(0, Buffer.alloc(64), '16' as unknown as number, new Int32Array(4), 4), 'tunRead: slotSize must be a number', 'ERR_INVALID_ARG_TYPE'],
      [() => dp.tunRead(0, Buffer.alloc(64), 32, new Int32Array(4), 4), 'tunRead: maxSlots needs more room than slab or lens has', 'ERR_INVALID_ARG_VALUE'],
      [() => dp.tunOpen('flannel-too-long-name', false), 'tunOpen: name must be 1 to 15 bytes long', 'ERR_INVALID_ARG_VALUE'],
      [() => dp.udpOpen(0, 8285, 65536, 1 as unknown as boolean, false), 'udpOpen: wantGro must be a boolean', 'ERR_INVALID_ARG_TYPE'],
      [() => dp.csum(Buffer.alloc(8), 4, 8, 0), 'csum: len runs outside buf', 'ERR_INVALID_ARG_VALUE'],
      [() => dp.pollStop({} as never), 'pollStop: poller must be a handle returned by the addon', 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [call, message, code] of cases) {
      const e = thrown(call);
      expect(e, message).toBeInstanceOf(TypeError);
      expect(e, message).toMatchObject({ message, code });
      expect(isErrno(e), message).toBe(false);
    }
  });

  it('a closed poller refuses to start, and closing it again is harmless', () => {
    const nl = netlinkNative();
    const fd = nl.nlOpen(null, 0);
    expect(fd).toBeGreaterThanOrEqual(0);
    const p = nl.nlPollCreate(fd, () => {});
    expect(nl.nlPollStart(p)).toBe(0);
    nl.nlPollClose(p);
    nl.nlPollClose(p);
    expect(thrown(() => nl.nlPollStart(p))).toMatchObject({ name: 'TypeError', message: 'nlPollStart: poller is closed' });
    expect(nl.nlClose(fd)).toBe(0);
  });
});
