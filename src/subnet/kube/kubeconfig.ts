/**
 * A kubeconfig file (--kubeconfig-file), through @kubernetes/client-node's KubeConfig: loading,
 * contexts and every auth method of a kubeconfig (TLS, tokens, client certificates, exec and
 * auth-provider plugins, proxies) come from the library. The only module that imports it, by
 * deep import, and only when a kubeconfig is given: in a pod the in-cluster service account
 * needs none of it (in-cluster.ts).
 */
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import type { ApiConfig } from './in-cluster.ts';

/**
 * client-go's BuildConfigFromFlags(apiUrl, kubeconfig) for a kubeconfig: its current context,
 * with --kube-api-url overriding the cluster's server.
 */
export function kubeconfigConfig(file: string, apiUrl: string): ApiConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  if (apiUrl !== '') {
    const current = kc.getCurrentCluster();
    if (current === null) throw new Error(`kubeconfig ${file} has no current cluster to point at ${apiUrl}`);
    kc.clusters = kc.clusters.map((c) => (c.name === current.name ? { ...c, server: apiUrl } : c));
  }
  // client-go talks plain HTTP to an http:// server; client-node refuses unless skipTLSVerify is
  // set, which for a server without TLS changes nothing else.
  kc.clusters = kc.clusters.map((c) => (c.server.startsWith('http://') ? { ...c, skipTLSVerify: true } : c));
  const server = kc.getCurrentCluster()?.server ?? '';
  if (server === '') throw new Error(`kubeconfig ${file}: the current context names no cluster with a server`);
  return { server, auth: { apply: (opts) => kc.applyToHTTPSOptions(opts) } };
}
