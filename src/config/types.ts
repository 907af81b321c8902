import type { Ipv4Cidr } from '../ip/ipv4.ts';
import type { Ipv6Cidr } from '../ip/ipv6.ts';
import type { ConfigWarning } from './upstream-accepts.ts';

/** The vxlan backend's settings (pkg/backend/vxlan/vxlan.go reads them from the Backend object). */
export interface VxlanConfig {
  readonly type: 'vxlan';
  /** Default 1; names the device flannel.<VNI>. */
  readonly vni: number;
  /** 0 = the kernel default (8472). */
  readonly port: number;
  /** Base MTU; 0 = the external interface's MTU. The device gets MTU − 50. */
  readonly mtu: number;
  readonly gbp: boolean;
  readonly learning: boolean;
  readonly directRouting: boolean;
}

export interface HostGwConfig {
  readonly type: 'host-gw';
}

export interface UdpConfig {
  readonly type: 'udp';
  /** Default 8285. */
  readonly port: number;
}

export type BackendConfig = VxlanConfig | HostGwConfig | UdpConfig;

/**
 * net-conf.json, validated and defaulted (upstream's pkg/subnet/config.go). A family's fields are
 * present exactly when the family is enabled: `network` with EnableIPv4 (the default),
 * `ipv6Network` with EnableIPv6; at least one of the two is.
 */
export interface NetConf {
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
  readonly enableNFTables: boolean;
  /** Masked to its network address: 10.244.1.5/16 → 10.244.0.0/16. */
  readonly network?: Ipv4Cidr;
  /** IPv4 subnet length; 0 when IPv4 is off. */
  readonly subnetLen: number;
  readonly subnetMin?: number;
  readonly subnetMax?: number;
  /** Masked, like network: fd00:10:244::5/56 → fd00:10:244::/56. */
  readonly ipv6Network?: Ipv6Cidr;
  /** IPv6 subnet length; 0 when IPv6 is off. */
  readonly ipv6SubnetLen: number;
  readonly ipv6SubnetMin?: bigint;
  readonly ipv6SubnetMax?: bigint;
  readonly backend: BackendConfig;
  /** True when the Backend key was absent and udp was assumed (upstream's default). */
  readonly backendDefaulted: boolean;
  /** Problems upstream accepts, so this config was accepted with them (upstream-accepts.ts). */
  readonly warnings: readonly ConfigWarning[];
}
