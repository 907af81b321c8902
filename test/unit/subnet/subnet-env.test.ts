import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCidr, type Ipv4Cidr } from '../../../src/ip/ipv4.ts';
import { parseCidr6, type Ipv6Cidr } from '../../../src/ip/ipv6.ts';
import { parseDotenv, readSubnetEnv, renderSubnetEnv, writeSubnetEnv } from '../../../src/subnet/subnet-env.ts';

const cidr = (s: string): Ipv4Cidr => parseCidr(s)!;
const cidr6 = (s: string): Ipv6Cidr => parseCidr6(s)!;

describe('renderSubnetEnv', () => {
  it('udp on a 1500-byte link, ip-masq on', () => {
    expect(renderSubnetEnv({ ipv4: { network: cidr('10.244.0.0/16'), subnet: cidr('10.244.1.0/24') }, mtu: 1472, ipMasq: true })).toBe(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n',
    );
  });

  it('vxlan, ip-masq off', () => {
    expect(renderSubnetEnv({ ipv4: { network: cidr('10.244.0.0/16'), subnet: cidr('10.244.37.0/24') }, mtu: 1450, ipMasq: false })).toBe(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.37.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
    );
  });

  it('host-gw with a /26 lease', () => {
    expect(renderSubnetEnv({ ipv4: { network: cidr('10.5.0.0/20'), subnet: cidr('10.5.3.192/26') }, mtu: 1500, ipMasq: true })).toBe(
      'FLANNEL_NETWORK=10.5.0.0/20\nFLANNEL_SUBNET=10.5.3.193/26\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n',
    );
  });

  it("dual stack matches upstream's documented example", () => {
    expect(
      renderSubnetEnv({
        ipv4: { network: cidr('10.42.0.0/16'), subnet: cidr('10.42.0.0/24') },
        ipv6: { network: cidr6('2001:cafe:42::/56'), subnet: cidr6('2001:cafe:42::/64') },
        mtu: 1450,
        ipMasq: true,
      }),
    ).toBe('FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.0.1/24\nFLANNEL_IPV6_NETWORK=2001:cafe:42::/56\nFLANNEL_IPV6_SUBNET=2001:cafe:42::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
  });

  it('IPv6 only', () => {
    expect(renderSubnetEnv({ ipv6: { network: cidr6('fc00::/48'), subnet: cidr6('fc00:0:0:5::/64') }, mtu: 1430, ipMasq: false })).toBe(
      'FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:5::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n',
    );
  });

  it('refuses a nonsense MTU', () => {
    expect(() => renderSubnetEnv({ mtu: -1, ipMasq: false })).toThrow('subnet.env: FLANNEL_MTU -1 is not a non-negative integer');
  });
});

describe('writeSubnetEnv', () => {
  const root = mkdtempSync(join(tmpdir(), 'subnet-env-'));
  const savedUmask = process.umask();
  afterEach(() => {
    process.umask(savedUmask);
  });

  it('creates parent directories 0755 and the file 0644 under umask 077, no temp file left', async () => {
    process.umask(0o077);
    const dir = join(root, 'run', 'flannel');
    const path = join(dir, 'subnet.env');
    const text = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';
    await writeSubnetEnv(path, text);
    expect(readFileSync(path, 'utf8')).toBe(text);
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    expect(statSync(join(root, 'run')).mode & 0o777).toBe(0o755);
    expect(readdirSync(dir)).toEqual(['subnet.env']);
  });

  it('replaces an existing file (any mode) and leaves an existing directory mode alone', async () => {
    const dir = join(root, 'existing');
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o700);
    const path = join(dir, 'subnet.env');
    writeFileSync(path, 'old\n', { mode: 0o600 });
    await writeSubnetEnv(path, 'new\n');
    expect(readFileSync(path, 'utf8')).toBe('new\n');
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir)).toEqual(['subnet.env']);
  });

  it('removes its temp file when the rename fails', async () => {
    const dir = join(root, 'blocked');
    const path = join(dir, 'subnet.env');
    mkdirSync(path, { recursive: true }); // a non-empty directory where the file should go
    writeFileSync(join(path, 'x'), '');
    await expect(writeSubnetEnv(path, 'x\n')).rejects.toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect(readdirSync(dir)).toEqual(['subnet.env']);
  });
});

describe('readSubnetEnv', () => {
  const dir = mkdtempSync(join(tmpdir(), 'subnet-env-read-'));
  let n = 0;
  function file(text: string): string {
    const p = join(dir, `s${n++}.env`);
    writeFileSync(p, text);
    return p;
  }

  it('a missing file is undefined', async () => {
    expect(await readSubnetEnv(join(dir, 'absent.env'))).toBeUndefined();
  });

  it('reads what renderSubnetEnv writes, reduced to network form', async () => {
    const p = file(renderSubnetEnv({ ipv4: { network: cidr('10.244.0.0/16'), subnet: cidr('10.244.1.0/24') }, ipv6: { network: cidr6('fc00::/48'), subnet: cidr6('fc00:0:0:1::/64') }, mtu: 1450, ipMasq: true }));
    expect(await readSubnetEnv(p)).toEqual({
      network: cidr('10.244.0.0/16'),
      subnet: cidr('10.244.1.0/24'),
      ipv6Network: cidr6('fc00::/48'),
      ipv6Subnet: cidr6('fc00:0:0:1::/64'),
      warnings: [],
    });
  });

  it('reduces 10.5.72.1/24 to 10.5.72.0/24', async () => {
    expect((await readSubnetEnv(file('FLANNEL_SUBNET=10.5.72.1/24\n')))?.subnet).toEqual(cidr('10.5.72.0/24'));
  });

  it('skips invalid entries, keeping the one valid', async () => {
    const p = file('FLANNEL_SUBNET=garbage,10.5.72.1/24\n');
    const r = await readSubnetEnv(p);
    expect(r?.subnet).toEqual(cidr('10.5.72.0/24'));
    expect(r?.warnings).toEqual([`Couldn't parse previous FLANNEL_SUBNET from subnet file at ${p}: "garbage" is not a CIDR of that family`]);
  });

  it('more than one entry is treated as empty', async () => {
    const p = file('FLANNEL_NETWORK=10.244.0.0/16,10.245.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\n');
    const r = await readSubnetEnv(p);
    expect(r?.network).toBeUndefined();
    expect(r?.subnet).toEqual(cidr('10.244.3.0/24'));
    expect(r?.warnings).toEqual([`error reading subnet: more than 1 entry found for key: FLANNEL_NETWORK in file ${p}`]);
  });

  it('wrong family and absent keys give undefined', async () => {
    const r = await readSubnetEnv(file('FLANNEL_SUBNET=fc00::1/64\nFLANNEL_IPV6_SUBNET=10.0.0.1/24\nFLANNEL_MTU=1450\n'));
    expect(r?.subnet).toBeUndefined();
    expect(r?.ipv6Subnet).toBeUndefined();
    expect(r?.network).toBeUndefined();
    expect(r?.warnings).toHaveLength(2);
  });

  it('tolerates what godotenv tolerates: comments, export, quotes, spaces, CRLF', async () => {
    const r = await readSubnetEnv(file('# written by hand\r\nexport FLANNEL_NETWORK="10.244.0.0/16"\r\n FLANNEL_SUBNET = 10.244.9.1/24 # mine\r\n\r\n'));
    expect(r).toEqual({ network: cidr('10.244.0.0/16'), subnet: cidr('10.244.9.0/24'), warnings: [] });
  });

  it('a malformed line makes the whole file unreadable, as in godotenv', async () => {
    const p = file('FLANNEL_SUBNET=10.244.9.1/24\nnonsense\n');
    expect(await readSubnetEnv(p)).toEqual({ warnings: [`Couldn't parse previous subnet file at ${p}: line 2: expected KEY=VALUE, got "nonsense"`] });
  });

  it('parseDotenv keeps the last of repeated keys', () => {
    expect(parseDotenv('A=1\nA=2\n')).toEqual(new Map([['A', '2']]));
  });
});
