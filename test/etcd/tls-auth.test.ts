/**
 * etcd over TLS with client certificates (--etcd-cafile, --etcd-certfile, --etcd-keyfile) and with
 * user/password auth (--etcd-username, --etcd-password), against a real etcd: what works, and
 * the one-line messages when it does not (naming the file or the user).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCidr } from '../../src/ip/ipv4.ts';
import { EtcdClient, type EtcdClientOptions } from '../../src/subnet/etcd/client.ts';
import { loadEtcdNetConf } from '../../src/subnet/etcd/config.ts';
import { createEtcdMode } from '../../src/subnet/etcd/mode.ts';
import { loadTls } from '../../src/subnet/etcd/tls.ts';
import { etcdSkip, makeTlsFiles, startEtcd, type EtcdServer, type TlsFiles } from './etcd-server.ts';
import { captureLog, managerFactory, until, vxlanAttrs } from './helpers.ts';

const never = new AbortController().signal;
const CONFIG = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';

/** The first error a client call gives, as text. */
async function firstError(opts: EtcdClientOptions): Promise<string> {
  const client = new EtcdClient(opts);
  try {
    await client.range('/coreos.com/network/config');
    return 'no error';
  } catch (e) {
    return (e as Error).message;
  } finally {
    client.close();
  }
}

describe.skipIf(etcdSkip.skip)(`etcd over TLS with client certificates${etcdSkip.why ? ` (skipped: ${etcdSkip.why})` : ''}`, () => {
  let files: TlsFiles;
  let etcd: EtcdServer;
  beforeAll(async () => {
    files = await makeTlsFiles();
    etcd = await startEtcd({ tls: files });
    await etcd.etcdctl(['put', '/coreos.com/network/config', CONFIG]);
  });
  afterAll(async () => {
    await etcd?.destroy();
    if (files !== undefined) rmSync(files.dir, { recursive: true, force: true });
  });

  it('with the CA and a client certificate: reads the config and keeps a lease', async () => {
    const tls = loadTls({ caFile: files.ca, certFile: files.clientCert, keyFile: files.clientKey });
    const { log, lines } = captureLog();
    const client = new EtcdClient({ endpoints: [etcd.endpoint], tls });
    try {
      const { conf, source } = await loadEtcdNetConf(client, '/coreos.com/network', log, never);
      expect([formatCidr(conf.network!), source]).toEqual(['10.5.0.0/16', 'etcd key /coreos.com/network/config']);
      expect(lines).toEqual([]);
    } finally {
      client.close();
    }
    const f = managerFactory(() => etcd.endpoint, { tls });
    try {
      const lease = await f.make('/coreos.com/network').manager.acquireLease(vxlanAttrs('198.18.0.10'), never);
      const got = await etcd.etcdctl(['get', `/coreos.com/network/subnets/${formatCidr(lease.subnet!).replace('/', '-')}`, '--print-value-only']);
      expect(got.stdout).toBe('{"PublicIP":"198.18.0.10","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}}\n');
    } finally {
      f.closeAll();
    }
  });

  it('a CA that did not sign the server certificate is refused with a message naming --etcd-cafile and the file', async () => {
    const tls = loadTls({ caFile: files.otherCa, certFile: files.clientCert, keyFile: files.clientKey });
    expect(await firstError({ endpoints: [etcd.endpoint], tls })).toBe(
      `no etcd endpoint answered: TLS: the certificate of ${etcd.endpoint} is not signed by the CA in --etcd-cafile ${files.otherCa} (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`,
    );
    // What the daemon logs while it retries, once per distinct reason.
    const { log, lines } = captureLog();
    const client = new EtcdClient({ endpoints: [etcd.endpoint], tls });
    const stop = new AbortController();
    const loading = loadEtcdNetConf(client, '/coreos.com/network', log, stop.signal).catch(() => undefined);
    await until(() => lines.length > 0, 'the first failure to be logged');
    stop.abort();
    await loading;
    client.close();
    expect(lines[0]).toBe(`Couldn't fetch network config: no etcd endpoint answered: TLS: the certificate of ${etcd.endpoint} is not signed by the CA in --etcd-cafile ${files.otherCa} (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`);
  });

  it('without a client certificate the server refuses, and the message says which flags give one', async () => {
    const msg = await firstError({ endpoints: [etcd.endpoint], tls: loadTls({ caFile: files.ca, certFile: '', keyFile: '' }) });
    expect(msg).toMatch(new RegExp(`^no etcd endpoint answered: TLS: ${etcd.endpoint.replace(/[.]/g, '\\.')} requires a client certificate; give it with --etcd-certfile and --etcd-keyfile \\(`));
  });

  it('unusable TLS files are one fatal line naming the flag and the file', () => {
    const dir = files.dir;
    const notPem = join(dir, 'not-a-cert.pem');
    writeFileSync(notPem, 'hello\n');
    const base = { endpoints: etcd.endpoint, prefix: '/coreos.com/network', username: '', password: '', renewMarginMinutes: 60, subnetFile: join(dir, 'subnet.env') };
    const { log } = captureLog();
    const make = (tls: { cafile?: string; certfile?: string; keyfile?: string }) => () =>
      createEtcdMode({ ...base, cafile: tls.cafile ?? '', certfile: tls.certfile ?? '', keyfile: tls.keyfile ?? '' }, log, () => undefined);
    expect(make({ cafile: join(dir, 'missing.pem') })).toThrow(`--etcd-cafile ${join(dir, 'missing.pem')}: cannot read it (ENOENT)`);
    expect(make({ cafile: notPem })).toThrow(`--etcd-cafile ${notPem}: no PEM "CERTIFICATE" block in it`);
    expect(make({ certfile: files.clientCert })).toThrow('--etcd-certfile is set but --etcd-keyfile is not: a client certificate needs both');
    expect(make({ certfile: files.clientCert, keyfile: files.clientCert })).toThrow(`--etcd-keyfile ${files.clientCert}: no PEM "PRIVATE KEY" block in it`);
  });
});

describe.skipIf(etcdSkip.skip)(`etcd with user/password auth${etcdSkip.why ? ` (skipped: ${etcdSkip.why})` : ''}`, () => {
  let etcd: EtcdServer;
  beforeAll(async () => {
    etcd = await startEtcd();
    await etcd.etcdctl(['put', '/coreos.com/network/config', CONFIG]);
    await etcd.enableAuth('s3cret');
  });
  afterAll(async () => {
    await etcd?.destroy();
  });

  it('with --etcd-username and --etcd-password: keeps a lease and watches, also after etcd restarted and forgot the token', async () => {
    const f = managerFactory(() => etcd.endpoint, { username: 'root', password: 's3cret' });
    try {
      const t = f.make('/coreos.com/network');
      const lease = await t.manager.acquireLease(vxlanAttrs('198.18.0.10'), never);
      const seen: string[] = [];
      t.manager.watchLeases((events) => seen.push(...events.map((e) => formatCidr(e.lease.subnet!))), never);
      await etcd.etcdctl(['put', '/coreos.com/network/subnets/10.5.99.0-24', '{"PublicIP":"198.18.0.99","PublicIPv6":null}']);
      await until(() => seen.includes('10.5.99.0/24'), 'the peer through an authenticated watch').catch((e: Error) => {
        throw new Error(`${e.message}; log:\n${t.lines.join('\n')}`);
      });
      expect(formatCidr(lease.subnet!)).not.toBe('10.5.99.0/24');

      // A restarted etcd has forgotten every token: the watch authenticates again and goes on.
      await etcd.stop();
      await etcd.start();
      await etcd.etcdctl(['put', '/coreos.com/network/subnets/10.5.98.0-24', '{"PublicIP":"198.18.0.98","PublicIPv6":null}']);
      await until(() => seen.includes('10.5.98.0/24'), 'the peer after etcd restarted').catch((e: Error) => {
        throw new Error(`${e.message}; log:\n${t.lines.join('\n')}`);
      });
    } finally {
      f.closeAll();
    }
  });

  it('a wrong password or no credentials: the message says so, naming the user', async () => {
    expect(await firstError({ endpoints: [etcd.endpoint], username: 'root', password: 'wrong' })).toBe(
      `authenticating as --etcd-username "root": etcd ${etcd.endpoint}: etcdserver: authentication failed, invalid user ID or password`,
    );
    expect(await firstError({ endpoints: [etcd.endpoint] })).toBe(`etcd ${etcd.endpoint}: etcdserver: user name is empty`);
  });
});
