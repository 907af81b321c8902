import { describe, expect, it } from 'vitest';
import { exitCodeOf, fail, listNames, ok, skip, warn } from '../../../src/doctor/check.ts';
import { parseDoctorArgs } from '../../../src/doctor/main.ts';
import { buildReport, renderTable } from '../../../src/doctor/report.ts';

const head = { node: 'kind-worker', backend: 'vxlan', lease: '10.244.1.0/24', peers: 2, at: new Date('2026-11-30T00:00:00.000Z') };

describe('the report', () => {
  it('exits 0 when all is ok or skipped, 1 on a warning, 2 on a failure', () => {
    expect(exitCodeOf([ok('a', 'x'), skip('b', 'y')])).toBe(0);
    expect(exitCodeOf([ok('a', 'x'), warn('b', 'y', 'z')])).toBe(1);
    expect(exitCodeOf([warn('b', 'y', 'z'), fail('c', 'y', 'z')])).toBe(2);
  });

  it('renders one line per check, a fix line under each that is not ok, and the verdict', () => {
    const r = buildReport(head, [ok('daemon.running', 'flanneld 0.1.0: live and ready'), fail('datapath.peers', '"b": route missing', 'restart flanneld'), skip('reach.mtu', 'no peer answers')]);
    expect(renderTable(r)).toBe(
      [
        'flanneld doctor: node kind-worker, backend vxlan, lease 10.244.1.0/24, 2 peers, 2026-11-30T00:00:00.000Z',
        '',
        'STATUS  CHECK           EVIDENCE',
        'ok      daemon.running  flanneld 0.1.0: live and ready',
        'FAIL    datapath.peers  "b": route missing',
        '                        fix: restart flanneld',
        'skip    reach.mtu       no peer answers',
        '',
        '1 fail, 0 warn, 1 ok, 1 skipped: exit 2',
        '',
      ].join('\n'),
    );
    expect(r.summary).toEqual({ ok: 1, warn: 0, fail: 1, skip: 1 });
  });

  it('lists names without making a line endless', () => {
    expect(listNames(['a', 'b'])).toBe('a, b');
    expect(listNames(['a', 'b', 'c', 'd'], 2)).toBe('a, b and 2 more');
  });
});

describe('flanneld doctor arguments', () => {
  it('takes its own flags and passes flanneld’s through', () => {
    const p = parseDoctorArgs(['--json', '--bundle', '/tmp/b.tgz', '--healthz-port=8090', '-no-probe', '--cni-bin-dir=/bin/cni', '--iface', 'eth1', '--probe-timeout', '250']);
    expect(p).toEqual({
      doctor: { json: true, bundle: '/tmp/b.tgz', probe: false, probeTimeoutMs: 250, cniConfDir: '/etc/cni/net.d', cniBinDir: '/bin/cni', nodeName: undefined },
      rest: ['--healthz-port=8090', '--iface', 'eth1'],
    });
    expect(parseDoctorArgs(['-h'])).toBe('help');
    expect(() => parseDoctorArgs(['--bundle'])).toThrow('flag needs an argument: -bundle');
    expect(() => parseDoctorArgs(['--probe-timeout=0'])).toThrow('expected milliseconds 10..60000');
  });
});
