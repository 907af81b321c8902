import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseNetConf } from '../../../../src/config/netconf.ts';
import { createLogger } from '../../../../src/observe/log.ts';
import { createEtcdMode } from '../../../../src/subnet/etcd/mode.ts';

describe('etcd mode and the IP families of <prefix>/config', () => {
  // Nothing here reaches etcd: the family check comes before any request.
  const flags = {
    endpoints: 'http://127.0.0.1:1',
    prefix: '/coreos.com/network',
    keyfile: '',
    certfile: '',
    cafile: '',
    username: '',
    password: '',
    renewMarginMinutes: 60,
    subnetFile: join(tmpdir(), 'flannel-ts-no-such-subnet.env'),
  };
  const mode = () => createEtcdMode(flags, createLogger({ level: 'silent', format: 'json' }), () => undefined);

  it('refuses IPv6-only in one line that says why and what works', async () => {
    const conf = parseNetConf('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}', 'etcd key /coreos.com/network/config');
    await expect(mode().createSubnetManager(conf)).rejects.toThrow(
      '/coreos.com/network/config: "EnableIPv4": false (IPv6-only) does not work in etcd mode, as upstream keys every lease by its IPv4 subnet; use dual-stack ("EnableIPv6": true with a Network), or the kube subnet manager for IPv6-only',
    );
  });

  it('takes dual-stack, with the IPv6 range of the config', async () => {
    const m = mode();
    const conf = parseNetConf('{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}', 'etcd key /coreos.com/network/config');
    const { manager } = await m.createSubnetManager(conf);
    expect(manager.name).toBe('Etcd Local Manager with Previous Subnet: None');
    manager.close();
  });
});
