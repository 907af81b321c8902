import type { DaemonSettings } from '../doctor/daemon-state.ts';
import type { IfaceOptions } from '../ifaces/select.ts';
import type { IptablesModeSetting } from '../traffic/iptables-mode.ts';

/** A TCP listen address. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * What the daemon needs from the command line, in the daemon's own terms. The CLI maps its
 * flags onto this (src/cli/flanneld.ts); the daemon never sees the flag set.
 */
export interface DaemonConfig {
  /** net-conf.json (--net-config-path): read at start, then watched and applied live. */
  readonly netConfigPath: string;
  /** subnet.env (--subnet-file), read for the previous lease and rewritten after each bring-up. */
  readonly subnetFile: string;
  /** Where /healthz and /readyz listen (--healthz-ip, --healthz-port); undefined: not served. */
  readonly healthz?: ListenAddress;
  /** Where /metrics listens (--metrics-ip, --metrics-port); undefined: not served. */
  readonly metrics?: ListenAddress;
  /** How the external interface is chosen (--iface, --iface-regex, --iface-can-reach). */
  readonly iface: Omit<IfaceOptions, 'publicIp'>;
  /** --public-ip; the node's node-public-ip annotation overrides it. */
  readonly publicIp: string;
  /** --public-ipv6; the node's node-public-ipv6 annotation overrides it. */
  readonly publicIpv6: string;
  /** --ip-masq: masquerade traffic leaving the pod network. */
  readonly ipMasq: boolean;
  /** Masquerade with --random-fully (off with --ip-masq-fully-random-disable). */
  readonly masqFullyRandom: boolean;
  /** --iptables-forward-rules: accept forwarded traffic from and to the pod network. */
  readonly forwardRules: boolean;
  /** --iptables-mode: which iptables backend holds our rules (auto: the one the host uses). */
  readonly iptablesMode: IptablesModeSetting;
  /** --iptables-resync: seconds between checks of the rules and of the blackhole route. */
  readonly resyncSeconds: number;
  /** --ip-blackhole-route: keep `blackhole <own subnet>` in the main table. */
  readonly blackholeRoute: boolean;
  /** --vxlan-csum-offload: tx checksum offload of flannel.N (auto: off on kernels < 5.7). */
  readonly vxlanCsumOffload: 'auto' | 'off' | 'on';
  /** --peer-health-interval: seconds between overlay probes of every peer; 0 = off. */
  readonly peerHealthIntervalSeconds: number;
  /** --migration-grace: seconds the previous backend keeps receiving after a live backend switch. */
  readonly migrationGraceSeconds: number;
  /** The command line as given, for /debug/state (paths and settings, never credentials). */
  readonly settings: DaemonSettings;
}
