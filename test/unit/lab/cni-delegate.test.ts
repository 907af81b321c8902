import { describe, expect, it } from 'vitest';
import { flannelDelegateConfig, manifestFlannelNetConf } from '../../../lab/cni-delegate.ts';
import { parseFlannelSubnetEnv } from '../../../lab/subnet-env.ts';

const GOLDEN_ENV = 'FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n';

describe('flannelDelegateConfig', () => {
  it('matches the golden delegate of flannel_linux_test.go', () => {
    const env = parseFlannelSubnetEnv(GOLDEN_ENV);
    const delegate = flannelDelegateConfig({ name: 'cni-flannel' }, env);
    // Compared as JSON values: the golden is matched semantically upstream too (key order is free).
    expect(delegate).toEqual(
      JSON.parse('{"ipMasq":false,"ipam":{"routes":[{"dst":"10.1.0.0/16"}],"ranges":[[{"subnet":"10.1.17.0/24"}]],"type":"host-local"},"isGateway":true,"mtu":1472,"name":"cni-flannel","type":"bridge"}'),
    );
  });

  it('passes the manifest delegate settings and the ipam base through, and masquerades when flannel does not', () => {
    const env = parseFlannelSubnetEnv('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.2.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
    const delegate = flannelDelegateConfig(manifestFlannelNetConf({ dataDir: '/tmp/x/ipam' }), env);
    expect(delegate).toEqual({
      name: 'cbr0',
      cniVersion: '0.3.1',
      type: 'bridge',
      hairpinMode: true,
      isDefaultGateway: true,
      ipMasq: true,
      mtu: 1450,
      isGateway: true,
      ipam: {
        type: 'host-local',
        dataDir: '/tmp/x/ipam',
        ranges: [[{ subnet: '10.244.2.0/24' }]],
        routes: [{ dst: '10.244.0.0/16' }],
      },
    });
  });

  it('derives the dual-stack delegate: a range and a route per family, IPv6 reduced to its network', () => {
    const env = parseFlannelSubnetEnv(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=true\n',
    );
    expect(flannelDelegateConfig({ name: 'cni-flannel' }, env)['ipam']).toEqual({
      type: 'host-local',
      ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]],
      routes: [{ dst: '10.244.0.0/16' }, { dst: 'fd00:10:244::/56' }],
    });
    const v6only = parseFlannelSubnetEnv('FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n');
    expect(flannelDelegateConfig({ name: 'n' }, v6only)['ipam']).toEqual({ type: 'host-local', ranges: [[{ subnet: 'fd00:10:244:1::/64' }]], routes: [{ dst: 'fd00:10:244::/56' }] });
  });

  it('keeps values the delegate sets itself', () => {
    const env = parseFlannelSubnetEnv(GOLDEN_ENV);
    const delegate = flannelDelegateConfig({ name: 'n', delegate: { mtu: 1400, ipMasq: true, isGateway: false } }, env);
    expect(delegate).toMatchObject({ mtu: 1400, ipMasq: true, isGateway: false });
  });

  it('refuses a delegate carrying name or ipam', () => {
    const env = parseFlannelSubnetEnv(GOLDEN_ENV);
    expect(() => flannelDelegateConfig({ name: 'n', delegate: { ipam: {} } }, env)).toThrow(/must not contain "ipam"/);
    expect(() => flannelDelegateConfig({ name: 'n', delegate: { name: 'x' } }, env)).toThrow(/must not contain "name"/);
  });
});

describe('parseFlannelSubnetEnv', () => {
  it('is as strict as the CNI plugin: quotes and export are not understood', () => {
    expect(() => parseFlannelSubnetEnv('export FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n')).toThrow(
      /missing FLANNEL_NETWORK/,
    );
    expect(() => parseFlannelSubnetEnv('FLANNEL_NETWORK="10.1.0.0/16"\n')).toThrow(/not an IPv4 CIDR/);
  });

  it('takes IPMASQ as true only for exactly "true" and de-duplicates networks', () => {
    const env = parseFlannelSubnetEnv('FLANNEL_NETWORK=10.1.0.0/16,10.1.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=TRUE\n');
    expect(env.ipMasq).toBe(false);
    expect(env.networks).toEqual(['10.1.0.0/16']);
  });

  it('names every missing key', () => {
    expect(() => parseFlannelSubnetEnv('FLANNEL_NETWORK=10.1.0.0/16\n', '/run/x.env')).toThrow(
      '/run/x.env is missing FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ',
    );
  });
});
