/**
 * errorText renders anything a `catch` can receive as one line of text, and isErrno matches
 * every error that carries an errno: netlink's KernelError, Node's own system errors, the
 * addon's NativeError shape (its real instances are in test/native/errors.test.ts).
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../src/netlink/errors.ts';
import { errorText, isErrno } from '../../../src/util/errors.ts';

describe('errorText', () => {
  it('gives an Error its message, and its name when the message is empty', () => {
    expect(errorText(new Error('route add failed'))).toBe('route add failed');
    expect(errorText(new TypeError(''))).toBe('TypeError');
    expect(errorText(new KernelError(17, 'RTM_NEWROUTE', '10.244.2.0/24'))).toBe('RTM_NEWROUTE 10.244.2.0/24: EEXIST');
  });

  it('gives an AggregateError without a message the messages inside it', () => {
    const e = new AggregateError([new Error('connect ECONNREFUSED 198.18.0.1:6443'), 'timeout'], '');
    expect(errorText(e)).toBe('connect ECONNREFUSED 198.18.0.1:6443; timeout');
  });

  it('keeps a thrown string as it is and uses the message of an Error-like object', () => {
    expect(errorText('no lease')).toBe('no lease');
    expect(errorText({ message: 'Unauthorized', code: 401 })).toBe('Unauthorized');
  });

  it('renders other values as JSON or String(), cut short when long', () => {
    expect(errorText({ code: 409, reason: 'Conflict' })).toBe('{"code":409,"reason":"Conflict"}');
    expect(errorText([1, 'two'])).toBe('[1,"two"]');
    expect(errorText(undefined)).toBe('undefined');
    expect(errorText(null)).toBe('null');
    expect(errorText(42)).toBe('42');
    expect(errorText(10n)).toBe('10');
    expect(errorText(Symbol('stop'))).toBe('Symbol(stop)');
    expect(errorText(function reconcile() {})).toBe('[function reconcile]');
    const long = errorText({ data: 'x'.repeat(5000) });
    expect(long).toHaveLength(1001);
    expect(long.endsWith('…')).toBe(true);
  });

  it('never throws, whatever was thrown', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(errorText(cyclic)).toBe('[object Object]');
    expect(errorText({ n: 1n })).toBe('[object Object]');
    const bare = Object.create(null) as Record<string, unknown>;
    bare['self'] = bare;
    expect(errorText(bare)).toBe('[unprintable object]');
    const hostile = new Proxy({}, { get() { throw new Error('trap'); }, ownKeys() { throw new Error('trap'); } });
    expect(errorText(hostile)).toBe('[unprintable object]');
    const badMessage = new Error('x');
    Object.defineProperty(badMessage, 'message', { get() { throw new Error('getter'); } });
    expect(errorText(badMessage)).toBe('[unprintable object]');
  });
});

describe('isErrno', () => {
  it('matches a netlink KernelError by its code', () => {
    const e: unknown = new KernelError(101, 'RTM_NEWROUTE', '10.244.2.0/24 via 198.18.0.9');
    expect(isErrno(e)).toBe(true);
    expect(isErrno(e, 'ENETUNREACH')).toBe(true);
    expect(isErrno(e, 'EEXIST', 'ENETUNREACH')).toBe(true);
    expect(isErrno(e, 'EEXIST')).toBe(false);
    if (isErrno(e)) expect([e.errno, e.code]).toEqual([101, 'ENETUNREACH']);
  });

  it("matches Node's own system errors", async () => {
    const e = await readFile('/nonexistent/flannel/subnet.env').catch((err: unknown) => err);
    expect(isErrno(e, 'ENOENT')).toBe(true);
    expect(isErrno(e, 'EISDIR')).toBe(false);
  });

  it('matches an Error of the addon shape and nothing without a numeric errno', () => {
    const native = Object.assign(new Error('TUNSETIFF flannel0: EBUSY (Device or resource busy)'), {
      name: 'NativeError', errno: 16, code: 'EBUSY', op: 'TUNSETIFF', target: 'flannel0',
    });
    expect(isErrno(native, 'EBUSY')).toBe(true);
    expect(isErrno({ errno: 2, code: 'ENOENT' }, 'ENOENT')).toBe(false); // not an Error
    expect(isErrno(Object.assign(new Error('x'), { code: 'ERR_INVALID_ARG_TYPE' }))).toBe(false);
    expect(isErrno(Object.assign(new Error('x'), { errno: '2', code: 'ENOENT' }))).toBe(false);
    expect(isErrno('ENOENT', 'ENOENT')).toBe(false);
    expect(isErrno(undefined)).toBe(false);
  });
});
