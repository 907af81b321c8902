import { describe, expect, it } from 'vitest';
import { netConfJson } from '../../../lab/daemon.ts';
import { parseNetConf } from '../../../src/config/netconf.ts';

describe('the lab’s net-conf.json per --ip-family', () => {
  it.each([
    ['ipv4', { Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } }],
    ['dual', { Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', Backend: { Type: 'vxlan' } }],
    ['ipv6', { EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', Backend: { Type: 'vxlan' } }],
  ] as const)('%s', (family, want) => {
    const text = netConfJson('vxlan', false, family);
    expect(JSON.parse(text)).toEqual(want);
    const conf = parseNetConf(text, 'net-conf.json');
    expect([conf.enableIPv4, conf.enableIPv6]).toEqual([family !== 'ipv6', family !== 'ipv4']);
  });
});
