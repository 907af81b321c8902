import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../../src/config/netconf.ts';
import { restartOnlyChanges } from '../../../src/daemon/config-diff.ts';

const conf = (o: object) => parseNetConf(JSON.stringify(o), 'net-conf.json');

describe('restartOnlyChanges', () => {
  it('lets a backend change through and names everything else', () => {
    const a = conf({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } });
    expect(restartOnlyChanges(a, conf({ Network: '10.244.0.0/16', Backend: { Type: 'host-gw' } }))).toEqual([]);
    expect(restartOnlyChanges(a, conf({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', VNI: 4 } }))).toEqual([]);
    expect(restartOnlyChanges(a, conf({ Network: '10.244.0.0/17', Backend: { Type: 'vxlan' } }))).toEqual(['Network', 'SubnetMax']);
    expect(restartOnlyChanges(a, conf({ Network: '10.244.0.0/16', EnableNFTables: true, Backend: { Type: 'vxlan' } }))).toEqual(['EnableNFTables']);
  });
});
