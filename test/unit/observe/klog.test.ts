import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/observe/log.ts';
import { klogHeader, klogLine } from '../../../src/observe/klog.ts';

function capture(format: 'json' | 'text' | undefined, level: 'info' | 'debug' = 'info') {
  const lines: string[] = [];
  const log = createLogger({ level, ...(format !== undefined ? { format } : {}), destination: { write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WritableStream });
  return { log, lines };
}

/** klog's header: severity, MMDD, time with microseconds, the pid in 7 columns, file:line. */
const HEADER = /^([IWEF])(\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6}) {1,7}(\d+) ([^ :\]]+):(\d+)\] /;

describe('klog text lines (the default)', () => {
  it('writes upstream-style klog lines naming this file, with fields as key=value', () => {
    const { log, lines } = capture(undefined);
    const before = Date.now();
    log.info({ subnet: '10.244.2.0/24', peers: 3 }, 'Subnet added: 10.244.2.0/24 via 198.18.0.3');
    log.warn('careful');
    log.error({ err: new Error('boom') }, 'it broke');
    expect(lines).toHaveLength(3);
    const m = HEADER.exec(lines[0]!)!;
    expect(m).not.toBeNull();
    expect(m[1]).toBe('I');
    expect(Number(m[8])).toBe(process.pid);
    // The exact line is pinned by test/observe/klog-caller.test.ts, in a process without vitest's
    // transform (whose line numbers V8's call sites report here).
    expect(m[9]).toBe('klog.test.ts');
    const t = new Date(before);
    expect(`${m[2]}${m[3]}`).toBe(`${String(t.getMonth() + 1).padStart(2, '0')}${String(t.getDate()).padStart(2, '0')}`);
    expect(lines[0]!.slice(m[0].length)).toBe('Subnet added: 10.244.2.0/24 via 198.18.0.3 subnet="10.244.2.0/24" peers=3\n');
    expect(lines[1]).toMatch(/^W\d{4} .*klog\.test\.ts:\d+\] careful\n$/);
    expect(lines[2]).toMatch(/^E\d{4} .*\] it broke err="boom"\n$/);
  });

  it('pads the pid to 7 columns and the microseconds to 6 digits, as klog', () => {
    const micros = new Date(2026, 10, 29, 23, 9, 51).getTime() * 1000 + 123;
    expect(klogHeader('I', micros, 12345, 'main.go:123')).toBe('I1129 23:09:51.000123   12345 main.go:123]');
    expect(klogLine({ level: 50, time: micros, caller: 'x.ts:7', msg: 'two\nlines', n: null }, 5522)).toBe('E1129 23:09:51.000123    5522 x.ts:7] two\\nlines n=null\n');
  });

  it('maps debug and trace to I, as klog V-levels are', () => {
    const { log, lines } = capture(undefined, 'debug');
    log.debug('detail');
    expect(lines[0]).toMatch(/^I\d{4} .*\] detail\n$/);
  });
});

describe('--logging-format=json', () => {
  it('writes the same event as one JSON object, without the klog call site', () => {
    const { log, lines } = capture('json');
    log.info({ subnet: '10.244.2.0/24' }, 'Subnet added: 10.244.2.0/24 via 198.18.0.3');
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(rec)).toEqual(['level', 'time', 'subnet', 'msg']);
    expect(rec).toMatchObject({ level: 30, subnet: '10.244.2.0/24', msg: 'Subnet added: 10.244.2.0/24 via 198.18.0.3' });
    expect(rec['time']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });
});
