import { describe, expect, it } from 'vitest';
import { annotationKeys } from '../../../../src/subnet/kube/annotations.ts';
import type { NodeView } from '../../../../src/subnet/kube/api.ts';
import { annotationChanges, ipv4PodCidr, kubeTime, MalformedNodeError, nodeToLease, storedInfoOf } from '../../../../src/subnet/kube/node-lease.ts';

const keys = annotationKeys('flannel.alpha.coreos.com');
const node = (over: Partial<NodeView>): NodeView => ({ name: 'n', resourceVersion: '1', annotations: {}, podCIDRs: [], ...over });

describe('ipv4PodCidr', () => {
  it.each<[Partial<NodeView>, string]>([
    [{ podCIDR: '10.244.1.5/24' }, 'ok 10.244.1.0/24'],
    [{ podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00::/64'] }, 'ok 10.244.1.0/24'],
    [{ podCIDRs: ['10.244.1.0/24', '10.244.2.0/24'] }, 'ok 10.244.2.0/24'],
    [{}, 'missing'],
    [{ podCIDRs: ['fd00::/64'] }, 'invalid missing IPv4 address on n.Spec.PodCIDRs'],
    [{ podCIDRs: ['10.0.0.0/24', '10.0.1.0/24', 'fd00::/64'] }, 'invalid pod cidrs should be IPv4/IPv6 only or dualstack'],
    [{ podCIDR: 'garbage' }, 'invalid pod cidr "garbage" is not a valid CIDR'],
  ])('%j → %s', (over, want) => {
    const r = ipv4PodCidr(node(over));
    const text = r.kind === 'ok' ? `ok ${r.cidr.ip >>> 24}.${(r.cidr.ip >>> 16) & 255}.${(r.cidr.ip >>> 8) & 255}.${r.cidr.ip & 255}/${r.cidr.prefixLen}` : r.kind === 'missing' ? 'missing' : `invalid ${r.reason}`;
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
      subnet: { ip: 0x0af40200, prefixLen: 24 },
      attrs: { publicIp: '198.18.0.2', backendType: 'host-gw', backendData: 'null' },
      node: 'b',
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

describe('own annotations and stored info', () => {
  it('lists only differing keys, sorted', () => {
    const n = node({ annotations: { 'flannel.alpha.coreos.com/kube-subnet-manager': 'true', 'flannel.alpha.coreos.com/backend-type': 'vxlan' } });
    expect(Object.keys(annotationChanges(n, keys, { publicIp: '1.1.1.1', backendType: 'vxlan', backendData: 'null' }))).toEqual([
      'flannel.alpha.coreos.com/backend-data',
      'flannel.alpha.coreos.com/public-ip',
    ]);
  });
  it('parses VtepMAC only from well-formed backend-data', () => {
    expect(storedInfoOf(node({ annotations: { 'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0a:0B:0c:0d:0e:0f"}' } }), keys)).toEqual({ vtepMac: '0a:0b:0c:0d:0e:0f' });
    expect(storedInfoOf(node({ annotations: { 'flannel.alpha.coreos.com/backend-data': 'null' } }), keys)).toEqual({});
    expect(storedInfoOf(node({ annotations: { 'flannel.alpha.coreos.com/backend-data': '{"VtepMAC":"zz"}' } }), keys)).toEqual({});
  });
  it('formats times as RFC 3339 UTC seconds', () => {
    expect(kubeTime(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)))).toBe('2026-01-02T03:04:05Z');
  });
});
