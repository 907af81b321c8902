import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { bundleEntries, redact } from '../../../src/doctor/bundle.ts';
import { ok } from '../../../src/doctor/check.ts';
import { deriveModel } from '../../../src/doctor/model.ts';
import { buildReport } from '../../../src/doctor/report.ts';
import { tarGz } from '../../../src/doctor/tar.ts';
import { gathered } from './fixtures.ts';

/** Reads a ustar archive back: name → contents, checking every header checksum. */
function untar(gz: Buffer): Map<string, string> {
  const b = gunzipSync(gz);
  const out = new Map<string, string>();
  for (let pos = 0; pos + 512 <= b.length; ) {
    const h = b.subarray(pos, pos + 512);
    if (h.every((x) => x === 0)) break;
    const field = (off: number, len: number) => h.toString('utf8', off, off + len).replace(/\0.*$/s, '');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    expect(parseInt(field(148, 8), 8)).toBe(sum);
    expect(field(257, 6)).toBe('ustar');
    const size = parseInt(field(124, 12), 8);
    const prefix = field(345, 155);
    const name = (prefix === '' ? '' : `${prefix}/`) + field(0, 100);
    out.set(name, b.toString('utf8', pos + 512, pos + 512 + size));
    pos += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe('tarGz', () => {
  it('writes ustar entries tar can read: names, long names, sizes across block bounds', () => {
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/file.txt`;
    const files = untar(tarGz([
      { name: 'a/empty', data: '' },
      { name: 'a/b.txt', data: 'x'.repeat(513) },
      { name: long, data: 'long' },
    ]));
    expect([...files.keys()]).toEqual(['a/empty', 'a/b.txt', long]);
    expect(files.get('a/b.txt')).toHaveLength(513);
    expect(files.get(long)).toBe('long');
    expect(() => tarGz([{ name: '../x', data: '' }])).toThrow('tar: bad entry name "../x"');
    expect(() => tarGz([{ name: '/etc/x', data: '' }])).toThrow('tar: bad entry name');
  });
});

describe('redact', () => {
  it('removes tokens, passwords, keys and bearer headers wherever they turn up', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLXZhbHVl';
    expect(redact(`{"token": "abc", "name": "x"}`)).toBe('{"token": "<redacted>", "name": "x"}');
    expect(redact('token: abc\npassword=hunter2\n')).toBe('token: "<redacted>"\npassword="<redacted>"\n');
    expect(redact(`Authorization: Bearer ${jwt}`)).not.toContain(jwt);
    expect(redact(`saw ${jwt} in a log`)).toBe('saw <redacted token> in a log');
    expect(redact('client-key-data: LS0tLS1CRUdJTg==')).toBe('client-key-data: "<redacted>"');
    expect(redact('-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----')).toBe('<redacted private key>');
    // Ordinary evidence passes unchanged.
    const plain = '-A FLANNEL-POSTRTG -s 10.244.0.0/16 -j MASQUERADE --random-fully\nFLANNEL_SUBNET=10.244.1.1/24\n';
    expect(redact(plain)).toBe(plain);
  });
});

describe('bundleEntries', () => {
  it('holds the evidence files, with node objects reduced to flannel annotations and no secrets', () => {
    const g0 = gathered();
    const nodes = g0.api.ok ? g0.api.value.nodes.map((n) => ({ ...n, annotations: { ...n.annotations, 'example.com/secret-token': 'token: s3cr3t' } })) : [];
    const g = gathered({ api: { ok: true, value: { server: 'https://10.96.0.1:443', nodes } } });
    const m = deriveModel(g);
    const report = buildReport({ node: 'a', backend: 'vxlan', lease: '10.244.1.0/24', peers: 2, at: g.at }, [ok('daemon.running', 'fine')]);
    const entries = bundleEntries({ g, m, report, probes: [] });
    const names = entries.map((e) => e.name);
    expect(names.every((n) => n.startsWith('flannel-doctor-a-20261130T001000Z/'))).toBe(true);
    expect(names.map((n) => n.slice(n.indexOf('/') + 1))).toEqual([
      'report.txt', 'report.json', 'probes.json', 'daemon/state.json', 'daemon/log.txt', 'daemon/settings.json',
      'files/subnet.env', 'files/net-conf.json', 'cni/net.d/10-flannel.conflist', 'cni/bin.txt',
      'kernel/version.txt', 'kernel/links.json', 'kernel/addresses.json', 'kernel/routes.json', 'kernel/neighbours.json', 'kernel/fdb.json', 'kernel/sysctl.txt',
      'rules/iptables-save.txt', 'rules/iptables-legacy-save.txt', 'rules/iptables-nft-save.txt', 'rules/nft-ruleset.txt',
      'rules/ip6tables-save.txt', 'rules/ip6tables-legacy-save.txt', 'rules/ip6tables-nft-save.txt', 'api/nodes.json',
    ]);
    const text = entries.map((e) => String(e.data)).join('\n');
    expect(text).not.toContain('s3cr3t');
    expect(text).not.toContain('example.com/secret-token');
    const state = JSON.parse(String(entries.find((e) => e.name.endsWith('daemon/state.json'))!.data)) as Record<string, unknown>;
    expect(state['logTail']).toBeUndefined(); // in daemon/log.txt instead
    expect(String(entries.find((e) => e.name.endsWith('kernel/sysctl.txt'))!.data)).toBe(
      'net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.ipv4.neigh.default.gc_thresh1 = 128\nnet.ipv4.neigh.default.gc_thresh2 = 512\nnet.ipv4.neigh.default.gc_thresh3 = 1024\n',
    );
  });
});
