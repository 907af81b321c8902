import { describe, expect, it } from 'vitest';
import { peersVni, sameBackendConfig, senderConfig, vxlanConfigOfDevice } from '../../../../src/backends/multi/sender-config.ts';
import type { Link } from '../../../../src/netlink/types.ts';
import type { Lease } from '../../../../src/subnet/lease.ts';

const vx = (vni: number | string): Lease => ({ attrs: { backendType: 'vxlan', publicIp: '198.18.0.2', backendData: typeof vni === 'string' ? vni : `{"VNI":${vni},"VtepMAC":"02:00:00:00:00:01"}` } });

describe('senderConfig', () => {
  it("takes the config the backend last ran with, else upstream's defaults with the peers' VNI", () => {
    expect(senderConfig('vxlan', undefined, [vx(7), vx(7), vx(1)])).toEqual({ type: 'vxlan', vni: 7, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false });
    expect(senderConfig('vxlan', undefined, [])).toMatchObject({ vni: 1 });
    const ran = { type: 'vxlan', vni: 4, port: 4789, mtu: 0, gbp: false, learning: false, directRouting: true } as const;
    expect(senderConfig('vxlan', ran, [vx(4)])).toBe(ran);
    expect(senderConfig('vxlan', ran, [])).toBe(ran);
    // The receivers' VNI wins: a vxlan device must use it.
    expect(senderConfig('vxlan', ran, [vx(7)])).toEqual({ ...ran, vni: 7 });
    expect(senderConfig('udp', undefined, [])).toEqual({ type: 'udp', port: 8285 });
    expect(senderConfig('host-gw', undefined, [])).toEqual({ type: 'host-gw' });
  });

  it('ignores backend data without a usable VNI', () => {
    expect(peersVni([vx('null'), vx('{"VNI":"1"}'), vx('not json'), vx('{"VNI":-1}')])).toBeUndefined();
  });
});

describe('vxlanConfigOfDevice', () => {
  const link = (over: Partial<Link>): Link => ({ index: 5, name: 'flannel.1', kind: 'vxlan', mtu: 1450, up: true, lowerUp: true, mac: '02:00:00:00:00:01', vxlan: { vni: 1, port: 8472, learning: false, gbp: false }, ...over });
  it('reads what an earlier run made flannel.<VNI> with, to adopt it unchanged', () => {
    expect(vxlanConfigOfDevice(link({}), 1500)).toEqual({ type: 'vxlan', vni: 1, port: 0, mtu: 0, gbp: false, learning: false, directRouting: false });
    expect(vxlanConfigOfDevice(link({ name: 'flannel.9', mtu: 1350, vxlan: { vni: 9, port: 4789, learning: false, gbp: true } }), 1500)).toEqual({ type: 'vxlan', vni: 9, port: 4789, mtu: 1400, gbp: true, learning: false, directRouting: false });
    expect(vxlanConfigOfDevice(link({ name: 'flannel-v6.1', mtu: 1430 }), 1500)).toMatchObject({ vni: 1, mtu: 0 });
  });
  it('is undefined for any other device', () => {
    expect(vxlanConfigOfDevice(link({ name: 'vxlan0' }), 1500)).toBeUndefined();
    expect(vxlanConfigOfDevice(link({ name: 'flannel0', kind: 'tun' }), 1500)).toBeUndefined();
  });
});

describe('sameBackendConfig', () => {
  it('compares field by field, whatever the key order', () => {
    expect(sameBackendConfig({ type: 'udp', port: 8285 }, { port: 8285, type: 'udp' } as never)).toBe(true);
    expect(sameBackendConfig({ type: 'udp', port: 8285 }, { type: 'udp', port: 8286 })).toBe(false);
  });
});
