/**
 * Running the daemon as it runs in a pod: no kubeconfig, the API server from
 * KUBERNETES_SERVICE_HOST/PORT over HTTPS, a service account token and CA at the fixed path
 * /var/run/secrets/kubernetes.io/serviceaccount. The benches use it so that what they measure is
 * the in-cluster code path (src/subnet/kube/in-cluster.ts), TLS included.
 *
 * The fixed path is provided without touching the host: the daemon starts in a mount namespace
 * of its own (`unshare -m`, private propagation) with a tmpfs over /run (/var/run links to it)
 * that holds only the service account's files. Nothing in the daemon needs the host's /run
 * (iptables' xtables.lock is then private to it, which is fine for a daemon alone in its netns).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ServiceAccount {
  /** Holds `token` and `ca.crt`, as a pod's service account volume does. */
  readonly dir: string;
  readonly token: string;
  /** The API server's certificate and key (PEM), for the API double's --tls-cert/--tls-key. */
  readonly certFile: string;
  readonly keyFile: string;
}

/** A self-signed ECDSA certificate for `ip` (used as its own CA) and a token, under `dir`. */
export function serviceAccount(dir: string, ip = '127.0.0.1'): ServiceAccount {
  const sa = join(dir, 'serviceaccount');
  mkdirSync(sa, { recursive: true });
  const certFile = join(dir, 'apiserver.crt');
  const keyFile = join(dir, 'apiserver.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${ip}`, '-addext', `subjectAltName=IP:${ip}`, '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' });
  writeFileSync(join(sa, 'ca.crt'), readFileSync(certFile));
  const token = `bench-${process.pid}-${Date.now()}`;
  writeFileSync(join(sa, 'token'), token);
  return { dir: sa, token, certFile, keyFile };
}

/**
 * argv that runs `command` with `sa`'s files at the pod path, in a mount namespace of its own
 * (exec all the way: the daemon keeps the pid of the process spawned).
 */
export function inClusterCommand(sa: ServiceAccount, command: readonly string[]): string[] {
  const target = '/run/secrets/kubernetes.io/serviceaccount';
  const script = `mount -t tmpfs tmpfs /run && mkdir -p ${target} && cp "$0/token" "$0/ca.crt" ${target}/ && exec "$@"`;
  return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, sa.dir, ...command];
}

/** The environment a pod gets for the API server at `host:port`. */
export function inClusterEnv(host: string, port: number): NodeJS.ProcessEnv {
  return { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: String(port) };
}
