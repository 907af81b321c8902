/** The node annotation keys flannel reads and writes, under a configurable prefix (pkg/subnet/kube/annotations.go). */
export interface AnnotationKeys {
  /** The prefix after normalisation, e.g. `flannel.alpha.coreos.com/`. */
  readonly prefix: string;
  readonly kubeSubnetManager: string;
  readonly backendData: string;
  readonly backendV6Data: string;
  readonly backendType: string;
  readonly publicIp: string;
  readonly publicIpv6: string;
  readonly nodePublicIp: string;
  readonly nodePublicIpv6: string;
  readonly publicIpOverwrite: string;
  readonly publicIpv6Overwrite: string;
}

export const DEFAULT_ANNOTATION_PREFIX = 'flannel.alpha.coreos.com';

// Unanchored at the start, as upstream's regexp.MatchString is: only the tail must look like
// `fqdn/` or `fqdn/word-`.
const PREFIX_FORMAT = /(?:[a-z0-9_-]+\.)+[a-z0-9_-]+\/(?:[a-z0-9_-]+-)?$/;

/**
 * Normalises `--kube-annotation-prefix` exactly as upstream's newAnnotations: at most one `/`; none
 * → `/` appended; then `-` appended unless it ends in `/` or `-`. Errors carry upstream's texts.
 */
export function annotationKeys(rawPrefix: string): AnnotationKeys {
  let prefix = rawPrefix;
  const slashes = prefix.split('/').length - 1;
  if (slashes > 1) throw new Error('subnet/kube: prefix can contain at most single slash');
  if (slashes === 0) prefix += '/';
  if (!prefix.endsWith('/') && !prefix.endsWith('-')) prefix += '-';
  if (!PREFIX_FORMAT.test(prefix)) throw new Error('subnet/kube: prefix must be in a format: fqdn/[0-9a-z-_]*');
  return {
    prefix,
    kubeSubnetManager: prefix + 'kube-subnet-manager',
    backendData: prefix + 'backend-data',
    backendV6Data: prefix + 'backend-v6-data',
    backendType: prefix + 'backend-type',
    publicIp: prefix + 'public-ip',
    publicIpv6: prefix + 'public-ipv6',
    nodePublicIp: prefix + 'node-public-ip',
    nodePublicIpv6: prefix + 'node-public-ipv6',
    publicIpOverwrite: prefix + 'public-ip-overwrite',
    publicIpv6Overwrite: prefix + 'public-ipv6-overwrite',
  };
}
