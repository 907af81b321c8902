import { describe, expect, it } from 'vitest';
import { parseCidr, parseIpv4 } from '../../../../src/ip/ipv4.ts';
import { RouteTable } from '../../../../src/backends/udp/route-table.ts';

const ip = (s: string) => parseIpv4(s)! | 0;
const e = (subnet: string, hop: string) => ({ subnet: parseCidr(subnet)!, hop: parseIpv4(hop)! });

describe('RouteTable', () => {
  const t = RouteTable.build([e('10.244.2.0/24', '198.18.0.3'), e('10.244.3.0/24', '198.18.0.4'), e('10.244.128.0/20', '198.18.0.9')]);
  it('maps addresses in a subnet to its peer and others to 0', () => {
    expect(t.lookup(ip('10.244.2.77'))).toBe(ip('198.18.0.3'));
    expect(t.lookup(ip('10.244.3.1'))).toBe(ip('198.18.0.4'));
    expect(t.lookup(ip('10.244.140.1'))).toBe(ip('198.18.0.9'));
    expect(t.lookup(ip('10.244.4.1'))).toBe(0);
    expect(t.size).toBe(3);
  });
  it('knows peers by public IP only', () => {
    expect(t.isPeer(ip('198.18.0.4'))).toBe(true);
    expect(t.isPeer(ip('198.18.0.5'))).toBe(false);
    expect(RouteTable.empty.lookup(ip('10.244.2.1'))).toBe(0);
  });
});

describe('RouteTable sources', () => {
  it('accepts datagrams from peers it does not send to (they send with udp while this node advertises it)', () => {
    const t = RouteTable.build([e('10.244.2.0/24', '198.18.0.3')], [ip('198.18.0.7')]);
    expect(t.isPeer(ip('198.18.0.7'))).toBe(true);
    expect(t.isPeer(ip('198.18.0.3'))).toBe(true);
    expect(t.lookup(ip('10.244.7.1'))).toBe(0);
    expect(t.size).toBe(1);
  });
});
