/**
 * Node objects the size of real ones, for the benches that run the daemon against the API double
 * with thousands of peers (bench/daemon-footprint.ts, bench/scale.ts), and the double's state file
 * that holds them. A peer's podCIDR, VtepMAC and public IP follow from its index, so a bench can
 * compute the kernel state the daemon must reach.
 */
import { randomBytes, randomUUID } from 'node:crypto';

export const ANNOTATION_PREFIX = 'flannel.alpha.coreos.com/';

/**
 * Peer `i`: a /`prefixLen` inside 10.244.0.0/16 (the pod network the tests may use; /29 leaves
 * room for 8191 peers below the own node's subnet, /30 for 16383), its VtepMAC and its public IP
 * on 198.18.0.20-249.
 */
export interface PeerSpec {
  readonly name: string;
  /** '10.244.x.y/29' */
  readonly podCidr: string;
  /** The subnet's network address, the vxlan route's gateway and neighbour. */
  readonly gateway: string;
  readonly mac: string;
  readonly publicIp: string;
}

export function peerSpec(i: number, prefixLen = 29): PeerSpec {
  const size = 2 ** (32 - prefixLen);
  const fit = 65536 / size - 1;
  if (!(i >= 0 && i < fit)) throw new RangeError(`peer index ${i}: only ${fit} /${prefixLen} peers fit below the own node's subnet in 10.244.0.0/16`);
  const low = i * size;
  const gateway = `10.244.${low >>> 8}.${low & 0xff}`;
  const mac = `0a:58:0a:f4:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
  return { name: `peer-${i}`, podCidr: `${gateway}/${prefixLen}`, gateway, mac, publicIp: `198.18.0.${20 + (i % 230)}` };
}

/** The own node's subnet in the benches: the last /`prefixLen` of 10.244.0.0/16. */
export function ownPodCidr(prefixLen = 29): string {
  const low = 65536 - 2 ** (32 - prefixLen);
  return `10.244.${low >>> 8}.${low & 0xff}/${prefixLen}`;
}

/**
 * A Node as a kubelet-registered node looks (labels, conditions, addresses, nodeInfo, eight
 * images), trimmed only where flannel could not care less; with flannel's vxlan annotations when
 * `flannel` is given. About 4 KB of JSON, as real nodes are.
 */
export function kubeletNode(name: string, podCIDR: string, flannel: { publicIp: string; mac: string } | undefined, i: number): Record<string, unknown> {
  const t = '2026-11-01T10:00:00Z';
  const annotations: Record<string, string> = {
    'kubeadm.alpha.kubernetes.io/cri-socket': 'unix:///run/containerd/containerd.sock',
    'node.alpha.kubernetes.io/ttl': '0',
    'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
  };
  if (flannel !== undefined) {
    annotations[`${ANNOTATION_PREFIX}backend-data`] = `{"VNI":1,"VtepMAC":"${flannel.mac}"}`;
    annotations[`${ANNOTATION_PREFIX}backend-type`] = 'vxlan';
    annotations[`${ANNOTATION_PREFIX}kube-subnet-manager`] = 'true';
    annotations[`${ANNOTATION_PREFIX}public-ip`] = flannel.publicIp;
  }
  const cond = (type: string, status: string, reason: string, message: string): Record<string, string> => ({
    type, status, lastHeartbeatTime: t, lastTransitionTime: t, reason, message,
  });
  const images = Array.from({ length: 8 }, (_, k) => ({
    names: [`registry.example.com/team${k}/image-${k}@sha256:${(i * 31 + k).toString(16).padStart(64, '0')}`, `registry.example.com/team${k}/image-${k}:v1.${k}.0`],
    sizeBytes: 10_000_000 + k * 1_234_567,
  }));
  return {
    metadata: {
      name,
      labels: {
        'beta.kubernetes.io/arch': 'amd64', 'beta.kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'node.kubernetes.io/instance-type': 'm5.large',
        'topology.kubernetes.io/region': 'eu-west-1', 'topology.kubernetes.io/zone': `eu-west-1${'abc'[i % 3]}`,
      },
      annotations,
    },
    spec: { podCIDR, podCIDRs: [podCIDR], providerID: `aws:///eu-west-1a/i-${i.toString(16).padStart(17, '0')}` },
    status: {
      capacity: { cpu: '2', 'ephemeral-storage': '81106868Ki', 'hugepages-2Mi': '0', memory: '7950088Ki', pods: '110' },
      allocatable: { cpu: '1930m', 'ephemeral-storage': '74748194764', 'hugepages-2Mi': '0', memory: '7260936Ki', pods: '110' },
      conditions: [
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
      ],
      addresses: [{ type: 'InternalIP', address: flannel?.publicIp ?? '198.18.0.10' }, { type: 'Hostname', address: name }],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: randomBytes(16).toString('hex'), systemUUID: randomBytes(16).toString('hex'), bootID: randomBytes(16).toString('hex'),
        kernelVersion: '6.8.0-1019-aws', osImage: 'Ubuntu 24.04.1 LTS', containerRuntimeVersion: 'containerd://1.7.22',
        kubeletVersion: 'v1.31.2', kubeProxyVersion: 'v1.31.2', operatingSystem: 'linux', architecture: 'amd64',
      },
      images,
    },
  };
}

/** Peer `i` as a kubelet-registered node running flannel vxlan. */
export function peerNode(i: number, prefixLen = 29): Record<string, unknown> {
  const p = peerSpec(i, prefixLen);
  return kubeletNode(p.name, p.podCidr, { publicIp: p.publicIp, mac: p.mac }, i);
}

/**
 * The API double's state file (its --state-file, see lab/apiserver/main.ts): the own node and
 * `n` peers, stamped as the double stamps what it stores. Returns the nodes' JSON size too (the
 * initial list the daemon reads).
 */
export function apiState(ownNode: string, n: number, prefixLen = 29): { snapshot: string; listBytes: number } {
  const created = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const nodes: Record<string, unknown>[] = [];
  const put = (obj: Record<string, unknown>): void => {
    const meta = obj['metadata'] as Record<string, unknown>;
    nodes.push({ kind: 'Node', apiVersion: 'v1', ...obj, metadata: { ...meta, uid: randomUUID(), creationTimestamp: created, resourceVersion: String(nodes.length + 1) } });
  };
  put(kubeletNode(ownNode, ownPodCidr(prefixLen), undefined, 0));
  for (let i = 0; i < n; i++) put(peerNode(i, prefixLen));
  return { snapshot: JSON.stringify({ revision: nodes.length, nodes, pods: [] }), listBytes: Buffer.byteLength(JSON.stringify(nodes)) };
}
