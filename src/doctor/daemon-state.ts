import type { ExternalInterface } from '../backends/backend.ts';

/**
 * What the daemon serves on GET /debug/state (loopback only, on the health listener) and
 * `flanneld doctor` reads: the daemon's own view of its settings, lease, peers and health.
 * Plain JSON; no secrets (paths, never file contents or tokens).
 */
export interface DaemonDebugState {
  readonly schema: 1;
  readonly version: string;
  readonly pid: number;
  /** ISO 8601. */
  readonly startedAt: string;
  /** os.release() of the node. */
  readonly kernel: string;
  readonly ready: Verdict;
  readonly live: Verdict;
  readonly settings: DaemonSettings;
  /** Absent until net-conf.json was read. `network`: the enabled families' networks, IPv4 first, comma-separated. */
  readonly config?: { readonly network: string; readonly backend: Readonly<Record<string, unknown>>; readonly enableNFTables: boolean };
  /** The interface selected for inter-host traffic; absent until selected. */
  readonly external?: ExternalInterface;
  /** The own lease and what the daemon publishes in the node's annotations; absent until acquired. */
  readonly lease?: LeaseView;
  /** The running backend: its type and the MTU it writes to subnet.env. */
  readonly backend?: { readonly type: string; readonly mtu: number };
  /** --vxlan-csum-offload resolved for this kernel. */
  readonly csumOffload: { readonly mode: string; readonly want: 'on' | 'off' | null; readonly reason: string };
  /** The other nodes' leases the daemon programs from, sorted by subnet. */
  readonly peers: readonly LeaseView[];
  readonly peerHealth: PeerHealthView;
  /** The daemon's last log lines, oldest first. */
  readonly logTail: readonly string[];
}

export interface Verdict {
  readonly ok: boolean;
  readonly body: string;
}

export interface DaemonSettings {
  readonly subnetFile: string;
  readonly netConfigPath: string;
  readonly kubeconfigFile: string;
  readonly kubeApiUrl: string;
  readonly kubeAnnotationPrefix: string;
  readonly iface: readonly string[];
  readonly ifaceRegex: readonly string[];
  readonly publicIP: string;
  readonly ipMasq: boolean;
  readonly ipMasqFullyRandomDisable: boolean;
  readonly iptablesForwardRules: boolean;
  readonly healthzIP: string;
  readonly healthzPort: number;
  readonly vxlanCsumOffload: string;
  readonly peerHealthInterval: number;
  /** Where the leases live (absent from daemons before etcd mode: kube). */
  readonly subnetManager?: 'kube' | 'etcd';
  /** etcd mode's flags, but never --etcd-password. */
  readonly etcdEndpoints?: string;
  readonly etcdPrefix?: string;
  readonly etcdCAFile?: string;
  readonly etcdCertFile?: string;
  readonly etcdKeyFile?: string;
  readonly etcdUsername?: string;
}

/**
 * A lease as the daemon holds it. `subnet`, `publicIp` and `backendData` are the IPv4 half, or the
 * IPv6 half on an IPv6-only node; a dual-stack lease also carries its IPv6 half in the ipv6 fields.
 */
export interface LeaseView {
  readonly node?: string;
  readonly subnet: string;
  readonly publicIp: string;
  readonly backendType: string;
  readonly backendData: string;
  readonly ipv6Subnet?: string;
  readonly publicIpv6?: string;
  readonly backendV6Data?: string;
}

export interface PeerHealthView {
  readonly enabled: boolean;
  readonly intervalSeconds: number;
  /** Why it is off although asked for (no CAP_NET_RAW). */
  readonly error?: string;
  readonly peersProbed: number;
  readonly rounds: number;
  readonly unreachable: readonly { readonly node: string; readonly subnet: string; readonly addr: string; readonly since: string; readonly reason: string }[];
}
