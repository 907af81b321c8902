import { describe, expect, it } from 'vitest';
import { nftMasqChain, parseNftChains, renderNftTransaction } from '../../../src/traffic/nft-rules.ts';

describe('renderNftTransaction', () => {
  it('re-creates each chain with its rules in one script', () => {
    const c = nftMasqChain({ network: '10.244.0.0/16', podSubnet: '10.244.1.0/24', fullyRandom: false }, 'ipv4');
    expect(renderNftTransaction('ipv4', [c]).split('\n')).toEqual([
      'add table ip flannel-ipv4 { comment "rules for flannel-ipv4"; }',
      'add chain ip flannel-ipv4 postrtg',
      'delete chain ip flannel-ipv4 postrtg',
      'add chain ip flannel-ipv4 postrtg { comment "chain to manage traffic masquerading by flannel"; type nat hook postrouting priority srcnat; policy accept; }',
      'add rule ip flannel-ipv4 postrtg meta mark 0x4000 return',
      'add rule ip flannel-ipv4 postrtg ip saddr 10.244.1.0/24 ip daddr 10.244.0.0/16 return',
      'add rule ip flannel-ipv4 postrtg ip saddr 10.244.0.0/16 ip daddr 10.244.1.0/24 return',
      'add rule ip flannel-ipv4 postrtg ip saddr != 10.244.1.0/24 ip daddr 10.244.0.0/16 return',
      'add rule ip flannel-ipv4 postrtg ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade',
      'add rule ip flannel-ipv4 postrtg ip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade',
      '',
    ]);
  });
});

describe('parseNftChains', () => {
  it('splits a listing into chains', () => {
    const m = parseNftChains('table ip t {\n\tchain a {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\treturn\n\t}\n\n\tchain b {\n\t}\n}\n');
    expect([...m]).toEqual([
      ['a', 'type nat hook postrouting priority srcnat; policy accept;\nreturn'],
      ['b', ''],
    ]);
  });
});
