/**
 * The in-cluster configuration, as client-go's rest.InClusterConfig builds it
 * (staging/src/k8s.io/client-go/rest/config.go), without client-node: a DaemonSet pod has no
 * kubeconfig, so loading client-node's KubeConfig and what it brings (YAML, JSONPath, OIDC,
 * proxy agents: ~0.5 MB of code, several MiB of heap) would be for nothing (bench/daemon-footprint.ts).
 *
 * - the server is https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT (IPv6 in brackets);
 * - the bearer token is read from the service account's token file and read again once it is a
 *   minute old, as client-go's cached token source does, so a projected token that the kubelet
 *   rotates is followed; a failed re-read keeps the last token;
 * - the CA is the service account's ca.crt; when it cannot be read, the error is logged and the
 *   system's roots are used, as client-go does.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import { errorText } from '../../util/errors.ts';
import { http } from '../../util/node-http.ts';
import type { RequestAuth } from './transport.ts';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const TOKEN_MAX_AGE_MS = 60_000;

/** Where the API server is and how each request proves who we are. */
export interface ApiConfig {
  readonly server: string;
  readonly auth: RequestAuth;
}

export function inClusterConfig(env: NodeJS.ProcessEnv, onWarning: (msg: string) => void, dir = SERVICE_ACCOUNT_DIR): ApiConfig {
  const host = env['KUBERNETES_SERVICE_HOST'] ?? '';
  const port = env['KUBERNETES_SERVICE_PORT'] ?? '';
  if (host === '' || port === '') {
    throw new Error(
      'unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined (or pass --kubeconfig-file / --kube-api-url)',
    );
  }
  const tokenFile = join(dir, 'token');
  const caFile = join(dir, 'ca.crt');
  let token: string;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (e) {
    throw new Error(`unable to load in-cluster configuration: reading ${tokenFile}: ${errorText(e)}`);
  }
  let ca: Buffer | undefined;
  try {
    ca = readFileSync(caFile);
  } catch (e) {
    onWarning(`Expected to load root CA config from ${caFile}, but got err: ${errorText(e)}`);
  }
  // One agent: connections to the API server are kept and reused (the watch holds one open).
  const agent = new https.Agent({ keepAlive: true, ...(ca !== undefined ? { ca } : {}) });
  let readAt = Date.now();
  let reading: Promise<void> | undefined;
  const refresh = async (): Promise<void> => {
    try {
      token = (await readFile(tokenFile, 'utf8')).trim();
    } catch (e) {
      onWarning(`re-reading the service account token ${tokenFile} failed; keeping the last one: ${errorText(e)}`);
    }
    readAt = Date.now();
  };
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    server,
    auth: {
      async apply(opts) {
        if (Date.now() - readAt >= TOKEN_MAX_AGE_MS) {
          reading ??= refresh().finally(() => (reading = undefined));
          await reading;
        }
        opts.agent = agent;
        if (ca !== undefined) opts.ca = ca;
        opts.headers = { ...opts.headers, Authorization: `Bearer ${token}` };
      },
    },
  };
}

/** --kube-api-url alone: client-go's config of just that URL, no credentials (system roots for https). */
export function urlOnlyConfig(url: string): ApiConfig {
  const agent = url.startsWith('http://') ? new http.Agent({ keepAlive: true }) : new https.Agent({ keepAlive: true });
  return {
    server: url,
    auth: {
      async apply(opts) {
        opts.agent = agent;
      },
    },
  };
}
