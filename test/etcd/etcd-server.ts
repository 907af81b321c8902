/**
 * A real etcd (Debian's etcd-server) for one test file: its own data directory and free loopback
 * ports, optionally TLS with client certificates or user/password auth; stopped and removed by
 * `destroy()`. Also a TCP relay the tests can cut, to drop the connections of a client while
 * etcd keeps running (a watch that falls behind a compaction).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunResult } from '../../lab/harness/exec.ts';
import { logTail, startDetached, stopProcess, waitFor, type StartedProcess } from '../../lab/processes.ts';
import { ETCD_BIN, ETCDCTL_BIN, etcdProblem } from '../../lab/etcd.ts';

/** Whether etcd tests can run; under CI a missing etcd fails the run instead of skipping. */
export const etcdSkip: { readonly skip: boolean; readonly why: string } = (() => {
  const problem = etcdProblem();
  if (problem !== undefined && process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') {
    throw new Error(`CI=true but the etcd tests cannot run: ${problem}`);
  }
  return { skip: problem !== undefined, why: problem ?? '' };
})();

export interface TlsFiles {
  readonly dir: string;
  readonly ca: string;
  /** A CA that signed nothing the server has. */
  readonly otherCa: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

export interface EtcdServerOptions {
  /** Serve https with these files and require client certificates signed by `ca`. */
  readonly tls?: TlsFiles;
}

export interface EtcdServer {
  /** http(s)://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly logFile: string;
  /** etcdctl with the right endpoint (and TLS files, and root credentials once auth is on). */
  etcdctl(args: readonly string[], opts?: { allowFailure?: boolean }): Promise<RunResult>;
  /** Turns on etcd auth with user `root` and this password. */
  enableAuth(password: string): Promise<void>;
  stop(): Promise<void>;
  /** Starts it again with the same data and port. */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

export async function startEtcd(opts: EtcdServerOptions = {}): Promise<EtcdServer> {
  const dir = mkdtempSync(join(tmpdir(), 'flannel-etcd-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'etcd.log');
  const clientPort = await freePort();
  const peerPort = await freePort();
  const scheme = opts.tls ? 'https' : 'http';
  const endpoint = `${scheme}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const tlsArgs = opts.tls
    ? ['--cert-file', opts.tls.serverCert, '--key-file', opts.tls.serverKey, '--trusted-ca-file', opts.tls.ca, '--client-cert-auth']
    : [];
  const ctlTls = opts.tls ? ['--cacert', opts.tls.ca, '--cert', opts.tls.clientCert, '--key', opts.tls.clientKey] : [];
  let user: string[] = [];
  let proc: StartedProcess | undefined;

  const etcdctl = (args: readonly string[], o: { allowFailure?: boolean } = {}): Promise<RunResult> =>
    run([ETCDCTL_BIN, '--endpoints', endpoint, ...ctlTls, ...user, ...args], { ...o, env: { ...process.env, ETCDCTL_API: '3' } });

  const start = async (): Promise<void> => {
    proc = startDetached(
      [
        ETCD_BIN, '--name', 'test', '--data-dir', dataDir,
        '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
        '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `test=${peer}`,
        ...tlsArgs,
      ],
      logFile,
    );
    const p = proc;
    await waitFor(
      async () => {
        if (p.exit() !== undefined) throw new Error(`etcd exited (${JSON.stringify(p.exit())}):\n${logTail(logFile)}`);
        return (await etcdctl(['endpoint', 'health'], { allowFailure: true })).code === 0 ? true : undefined;
      },
      20_000,
      () => `etcd at ${endpoint} did not become healthy within 20 s:\n${logTail(logFile)}`,
    );
  };
  await start();

  return {
    endpoint,
    logFile,
    etcdctl,
    async enableAuth(password) {
      await etcdctl(['user', 'add', `root:${password}`, '--interactive=false']);
      await etcdctl(['auth', 'enable']);
      user = ['--user', `root:${password}`];
    },
    async stop() {
      if (proc !== undefined) await stopProcess(proc.pid);
      proc = undefined;
    },
    start,
    async destroy() {
      if (proc !== undefined) await stopProcess(proc.pid);
      proc = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A CA, a server certificate for 127.0.0.1 and a client certificate it signed, and an unrelated
 * second CA, made with openssl in a temporary directory (removed by the caller).
 */
export async function makeTlsFiles(): Promise<TlsFiles> {
  const dir = mkdtempSync(join(tmpdir(), 'flannel-etcd-tls-'));
  const f = (name: string): string => join(dir, name);
  const ossl = (args: string[]): Promise<RunResult> => run(['openssl', ...args]);
  const ca = async (name: string, cn: string): Promise<void> => {
    await ossl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`), '-days', '2', '-subj', `/CN=${cn}`]);
  };
  await ca('ca', 'flannel-test-ca');
  await ca('other-ca', 'some-other-ca');
  const leaf = async (name: string, cn: string, ext: string): Promise<void> => {
    writeFileSync(f(`${name}.ext`), ext);
    await ossl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await ossl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`)]);
  };
  await leaf('server', 'etcd', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  await leaf('client', 'flanneld', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: f('ca.pem'),
    otherCa: f('other-ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
  };
}

/** A TCP relay 127.0.0.1:<port> → target that a test can cut (drop every connection, refuse new ones) and restore. */
export interface Relay {
  readonly endpoint: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startRelay(target: string): Promise<Relay> {
  const t = new URL(target);
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const listen = (): Promise<void> =>
    new Promise((resolve) => {
      server = net.createServer((c) => {
        const up = net.connect(Number(t.port), t.hostname);
        sockets.add(c).add(up);
        c.pipe(up).pipe(c);
        const done = (): void => {
          c.destroy();
          up.destroy();
          sockets.delete(c);
          sockets.delete(up);
        };
        c.on('error', done).on('close', done);
        up.on('error', done).on('close', done);
      });
      server.listen(port, '127.0.0.1', resolve);
    });
  const cut = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (s !== undefined) await new Promise((resolve) => s.close(resolve));
  };
  await listen();
  return { endpoint: `${t.protocol}//127.0.0.1:${port}`, cut, restore: listen, close: cut };
}

