import { describe, expect, it } from 'vitest';
import { annotationKeys } from '../../../../src/subnet/kube/annotations.ts';
import type { NodeView } from '../../../../src/subnet/kube/api.ts';
import { annotationChanges, kubeTime, MalformedNodeError, nodeToLease, podCidrs, storedInfoOf } from '../../../../src/subnet/kube/node-lease.ts';
import { formatAnyCidr } from '../../../../src/ip/cidr.ts';

const keys = annotationKeys('flannel.alpha.coreos.com');
const node = (over: Partial<NodeView>): NodeView => ({ name: 'n', resourceVersion: '1', annotations: {}, podCIDRs: [], ...over });

const DUAL = { ipv4: true, ipv6: true };
const V6 = { ipv4: false, ipv6: true };

describe('podCidrs (upstream: PodCIDR when PodCIDRs is empty, else 1–2 entries, one per family)', () => {
  it.each<[Partial<NodeView>, { ipv4: boolean; ipv6: boolean }, string]>([
    [{ podCIDR: '10.244.1.5/24' }, { ipv4: true, ipv6: false }, 'ok 10.244.1.0/24'],
    [{ podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00::/64'] }, { ipv4: true, ipv6: false }, 'ok 10.244.1.0/24 fd00::/64'],
    [{ podCIDRs: ['10.244.1.0/24', '10.244.2.0/24'] }, { ipv4: true, ipv6: false }, 'ok 10.244.2.0/24'],
    [{}, { ipv4: true, ipv6: false }, 'missing'],
    [{ podCIDRs: ['fd00::/64'] }, { ipv4: true, ipv6: false }, 'invalid missing IPv4 address on n.Spec.PodCIDRs'],
    [{ podCIDRs: ['10.0.0.0/24', '10.0.1.0/24', 'fd00::/64'] }, { ipv4: true, ipv6: false }, 'invalid pod cidrs should be IPv4/IPv6 only or dualstack'],
    [{ podCIDR: 'garbage' }, { ipv4: true, ipv6: false }, 'invalid pod cidr "garbage" is not a valid CIDR'],
    [{ podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'FD00:10:244:1::5/64'] }, DUAL, 'ok 10.244.1.0/24 fd00:10:244:1::/64'],
    [{ podCIDR: 'fd00:10:244:1::/64', podCIDRs: ['fd00:10:244:1::/64', '10.244.1.0/24'] }, DUAL, 'ok 10.244.1.0/24 fd00:10:244:1::/64'],
    [{ podCIDR: '10.244.1.0/24' }, DUAL, 'invalid missing IPv6 address on n.Spec.PodCIDRs'],
    [{ podCIDR: 'fd00:10:244:1::/64' }, V6, 'ok fd00:10:244:1::/64'],
    [{ podCIDR: 'fd00:10:244:1::/64', podCIDRs: ['fd00:10:244:1::/64', '10.244.1.0/24'] }, V6, 'ok 10.244.1.0/24 fd00:10:244:1::/64'],
    [{ podCIDR: '10.244.1.0/24' }, V6, 'invalid missing IPv6 address on n.Spec.PodCIDRs'],
  ])('%j, families %j → %s', (over, families, want) => {
    const r = podCidrs(node(over), families);
    const text = r.kind === 'ok' ? `ok ${[r.ipv4, r.ipv6].filter((c) => c !== undefined).map(formatAnyCidr).join(' ')}` : r.kind === 'missing' ? 'missing' : `invalid ${r.reason}`;
    expect(text).toBe(want);
  });
});

describe('nodeToLease', () => {
  const good = {
    'flannel.alpha.coreos.com/public-ip': '198.18.0.2',
    'flannel.alpha.coreos.com/backend-type': 'host-gw',
    'flannel.alpha.coreos.com/backend-data': 'null',
  };
  it('takes public-ip, backend-type and raw backend-data', () => {
    expect(nodeToLease(node({ name: 'b', podCIDR: '10.244.2.0/24', annotations: good }), keys)).toEqual({
      lease: {
        subnet: { ip: 0x0af40200, prefixLen: 24 },
        attrs: { publicIp: '198.18.0.2', backendType: 'host-gw', backendData: 'null' },
        node: 'b',
      },
      missing: [],
    });
  });
  it.each<[Record<string, string>, string | undefined, string]>([
    [{ ...good, 'flannel.alpha.coreos.com/public-ip': '1.2.3' }, '10.244.2.0/24', 'node "b": flannel.alpha.coreos.com/public-ip: "1.2.3" is not an IPv4 address'],
    [{ ...good, 'flannel.alpha.coreos.com/backend-data': '{' }, '10.244.2.0/24', 'node "b": flannel.alpha.coreos.com/backend-data: "{" is not JSON'],
    [good, undefined, 'node "b": spec.podCIDR: missing'],
  ])('names the node and the field: %j', (annotations, podCIDR, message) => {
    const n = node({ name: 'b', annotations, ...(podCIDR ? { podCIDR } : {}) });
    expect(() => nodeToLease(n, keys)).toThrow(MalformedNodeError);
    expect(() => nodeToLease(n, keys)).toThrow(message);
  });
});

describe('nodeToLease in dual-stack and IPv6-only clusters', () => {
  const v4 = {
    'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
    'flannel.alpha.coreos.com/backend-type': 'vxlan',
    'flannel.alpha.coreos.com/public-ip': '198.18.0.12',
    'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0a:00:00:00:00:02"}',
  };
  const v6 = {
    'flannel.alpha.coreos.com/public-ipv6': 'FD00:198:18:0:0::C',
    'flannel.alpha.coreos.com/backend-v6-data': '{"VNI":1,"VtepMAC":"0a:00:00:00:00:12"}',
  };
  const dual = { podCIDR: '10.244.2.0/24', podCIDRs: ['10.244.2.0/24', 'fd00:10:244:2::/64'] };

  it('takes both halves, the public IPv6 in canonical form', () => {
    const { lease, missing } = nodeToLease(node({ name: 'b', ...dual, annotations: { ...v4, ...v6 } }), keys, DUAL);
    expect(missing).toEqual([]);
    expect(formatAnyCidr(lease.ipv6Subnet!)).toBe('fd00:10:244:2::/64');
    expect(lease.attrs).toEqual({
      backendType: 'vxlan',
      publicIp: '198.18.0.12',
      backendData: '{"VNI":1,"VtepMAC":"0a:00:00:00:00:02"}',
      publicIpv6: 'fd00:198:18::c',
      backendV6Data: '{"VNI":1,"VtepMAC":"0a:00:00:00:00:12"}',
    });
  });

  it.each<[string, Partial<NodeView>, Record<string, string>, string]>([
    ['no IPv6 podCIDR', { podCIDR: '10.244.2.0/24' }, { ...v4, ...v6 }, 'node "b": spec.podCIDRs: missing IPv6 address on n.Spec.PodCIDRs'],
    ['no public-ipv6 yet', dual, { ...v4, 'flannel.alpha.coreos.com/backend-v6-data': v6['flannel.alpha.coreos.com/backend-v6-data'] }, 'node "b": flannel.alpha.coreos.com/public-ipv6: missing'],
    ['a public-ipv6 that is IPv4', dual, { ...v4, ...v6, 'flannel.alpha.coreos.com/public-ipv6': '198.18.0.12' }, 'node "b": flannel.alpha.coreos.com/public-ipv6: "198.18.0.12" is not an IPv6 address'],
    ['backend-v6-data not JSON', dual, { ...v4, ...v6, 'flannel.alpha.coreos.com/backend-v6-data': '{' }, 'node "b": flannel.alpha.coreos.com/backend-v6-data: "{" is not JSON'],
  ])('a peer with %s keeps its IPv4 half and names what its IPv6 half lacks', (_name, spec, annotations, message) => {
    const { lease, missing } = nodeToLease(node({ name: 'b', ...spec, annotations }), keys, DUAL);
    expect(formatAnyCidr(lease.subnet!)).toBe('10.244.2.0/24');
    expect(lease.ipv6Subnet).toBeUndefined();
    expect([lease.attrs.publicIpv6, lease.attrs.backendV6Data]).toEqual([undefined, undefined]);
    expect(missing.map((m) => `${m.family}: ${m.error.message}`)).toEqual([`ipv6: ${message}`]);
  });

  it('a dual-stack peer with only an IPv6 half is kept for IPv6', () => {
    const { lease, missing } = nodeToLease(node({ name: 'b', ...dual, annotations: { ...v6, 'flannel.alpha.coreos.com/backend-type': 'vxlan' } }), keys, DUAL);
    expect([lease.subnet, formatAnyCidr(lease.ipv6Subnet!)]).toEqual([undefined, 'fd00:10:244:2::/64']);
    expect(missing.map((m) => m.error.message)).toEqual(['node "b": flannel.alpha.coreos.com/public-ip: missing']);
  });

  it('a peer with neither half is malformed', () => {
    expect(() => nodeToLease(node({ name: 'b', podCIDR: '10.244.2.0/24', annotations: {} }), keys, DUAL)).toThrow('node "b": flannel.alpha.coreos.com/public-ip: missing');
  });

  it('IPv6-only reads only the IPv6 half, as upstream', () => {
    const { lease, missing } = nodeToLease(node({ name: 'b', podCIDR: 'fd00:10:244:2::/64', annotations: { ...v6, 'flannel.alpha.coreos.com/backend-type': 'host-gw' } }), keys, V6);
    expect(missing).toEqual([]);
    expect(lease).toEqual({
      ipv6Subnet: { ip: 0xfd000010024400020000000000000000n, prefixLen: 64 },
      attrs: { backendType: 'host-gw', publicIpv6: 'fd00:198:18::c', backendV6Data: '{"VNI":1,"VtepMAC":"0a:00:00:00:00:12"}' },
      node: 'b',
    });
  });
});

describe('own annotations and stored info', () => {
  it('lists only differing keys, sorted', () => {
    const n = node({ annotations: { 'flannel.alpha.coreos.com/kube-subnet-manager': 'true', 'flannel.alpha.coreos.com/backend-type': 'vxlan' } });
    expect(Object.keys(annotationChanges(n, keys, { publicIp: '1.1.1.1', backendType: 'vxlan', backendData: 'null' }))).toEqual([
      'flannel.alpha.coreos.com/backend-data',
      'flannel.alpha.coreos.com/public-ip',
    ]);
  });
  it.each<[string, Parameters<typeof annotationChanges>[2], Record<string, string>]>([
    [
      'vxlan dual-stack',
      { backendType: 'vxlan', publicIp: '198.18.0.10', backendData: '{"VNI":1,"VtepMAC":"0a:00:00:00:00:01"}', publicIpv6: 'fd00:198:18::a', backendV6Data: '{"VNI":1,"VtepMAC":"0a:00:00:00:00:11"}' },
      {
        'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0a:00:00:00:00:01"}',
        'flannel.alpha.coreos.com/backend-type': 'vxlan',
        'flannel.alpha.coreos.com/backend-v6-data': '{"VNI":1,"VtepMAC":"0a:00:00:00:00:11"}',
        'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
        'flannel.alpha.coreos.com/public-ip': '198.18.0.10',
        'flannel.alpha.coreos.com/public-ipv6': 'fd00:198:18::a',
      },
    ],
    [
      // Upstream writes neither backend-data nor public-ip for vxlan without an IPv4 device.
      'vxlan IPv6-only',
      { backendType: 'vxlan', publicIpv6: 'fd00:198:18::a', backendV6Data: '{"VNI":1,"VtepMAC":"0a:00:00:00:00:11"}' },
      {
        'flannel.alpha.coreos.com/backend-type': 'vxlan',
        'flannel.alpha.coreos.com/backend-v6-data': '{"VNI":1,"VtepMAC":"0a:00:00:00:00:11"}',
        'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
        'flannel.alpha.coreos.com/public-ipv6': 'fd00:198:18::a',
      },
    ],
    [
      'host-gw dual-stack',
      { backendType: 'host-gw', publicIp: '198.18.0.10', backendData: 'null', publicIpv6: 'fd00:198:18::a', backendV6Data: 'null' },
      {
        'flannel.alpha.coreos.com/backend-data': 'null',
        'flannel.alpha.coreos.com/backend-type': 'host-gw',
        'flannel.alpha.coreos.com/backend-v6-data': 'null',
        'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
        'flannel.alpha.coreos.com/public-ip': '198.18.0.10',
        'flannel.alpha.coreos.com/public-ipv6': 'fd00:198:18::a',
      },
    ],
    [
      // Upstream's zero IPv4 LeaseAttrs.PublicIP prints as 0.0.0.0, and host-gw always writes it.
      'host-gw IPv6-only',
      { backendType: 'host-gw', publicIpv6: 'fd00:198:18::a', backendV6Data: 'null' },
      {
        'flannel.alpha.coreos.com/backend-data': 'null',
        'flannel.alpha.coreos.com/backend-type': 'host-gw',
        'flannel.alpha.coreos.com/backend-v6-data': 'null',
        'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
        'flannel.alpha.coreos.com/public-ip': '0.0.0.0',
        'flannel.alpha.coreos.com/public-ipv6': 'fd00:198:18::a',
      },
    ],
  ])('writes upstream’s keys for %s', (_name, attrs, want) => {
    const changes = annotationChanges(node({}), keys, attrs);
    expect(changes).toEqual(want);
    expect(JSON.stringify(changes)).toBe(JSON.stringify(want)); // key order: sorted, as Go marshals
  });

  it('publishes public-ipv6-overwrite instead of the real IPv6 (NAT), and only then differs', () => {
    const n = node({ annotations: { 'flannel.alpha.coreos.com/public-ipv6-overwrite': '2001:db8::7' } });
    const attrs = { backendType: 'host-gw', publicIpv6: 'fd00:198:18::a', backendV6Data: 'null' };
    expect(annotationChanges(n, keys, attrs)['flannel.alpha.coreos.com/public-ipv6']).toBe('2001:db8::7');
    const done = node({ annotations: { ...n.annotations, ...annotationChanges(n, keys, attrs) } });
    expect(annotationChanges(done, keys, attrs)).toEqual({});
  });

  it('parses VtepMAC only from well-formed backend-data', () => {
    expect(storedInfoOf(node({ annotations: { 'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0a:0B:0c:0d:0e:0f"}' } }), keys)).toEqual({ vtepMac: '0a:0b:0c:0d:0e:0f' });
    expect(storedInfoOf(node({ annotations: { 'flannel.alpha.coreos.com/backend-data': 'null' } }), keys)).toEqual({});
    expect(storedInfoOf(node({ annotations: { 'flannel.alpha.coreos.com/backend-data': '{"VtepMAC":"zz"}' } }), keys)).toEqual({});
  });
  it('keeps the backend-type the node advertised (peers may still send with it after a restart mid-switch)', () => {
    expect(storedInfoOf(node({ annotations: { 'flannel.alpha.coreos.com/backend-type': 'vxlan', 'flannel.alpha.coreos.com/backend-data': 'null' } }), keys)).toEqual({ backendType: 'vxlan' });
    expect(storedInfoOf(node({ annotations: { 'flannel.alpha.coreos.com/backend-type': '' } }), keys)).toEqual({ backendType: '' });
  });
  it('formats times as RFC 3339 UTC seconds', () => {
    expect(kubeTime(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)))).toBe('2026-01-02T03:04:05Z');
  });
});
