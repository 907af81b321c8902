import type { ConfigError } from './config-error.ts';

/**
 * The checks of net-conf.json that upstream flanneld does not make: it starts with these values,
 * so refusing them would turn a ConfigMap that runs upstream into a crash-loop here. flannel-ts
 * accepts them as upstream reads them (or, where upstream's reading breaks pods, with a value
 * that works, said in the warning), logs each once, counts them in `flannel_config_warnings` and
 * lists them in /readyz's body. Every other check refuses the file, as upstream does one way or
 * another: its JSON decoder (wrong types), the kernel (VNI, a device MTU below 68) or the socket
 * (a udp port above 65535). The README lists both groups.
 *
 * Each entry says why upstream accepts it (pkg/subnet/config.go, pkg/backend/vxlan/vxlan.go and
 * device.go, pkg/backend/udp/udp_amd64.go, and vishvananda/netlink's link encoder).
 */
export const UPSTREAM_ACCEPTS = {
  'null-value': "upstream's JSON decoder leaves a number or boolean that is null at its default",
  'duplicate-key': "upstream's JSON decoder takes the last of two keys for one field (keys match case-insensitively)",
  'subnet-range': "upstream checks SubnetLen, SubnetMin, SubnetMax and the Network's size only in etcd mode; its kube subnet manager ignores them",
  'vxlan-port': 'upstream hands the port to the kernel as 16 bits, and a port below 1 not at all (the kernel then uses 8472)',
  'vxlan-mtu': "upstream then creates flannel.N with the kernel's default MTU but writes this MTU to subnet.env, which breaks pod networking",
  'udp-port-zero': 'upstream then listens on a random port and sends to port 0, so no packet between nodes arrives',
} as const satisfies Record<string, string>;

export type UpstreamAcceptsCheck = keyof typeof UPSTREAM_ACCEPTS;

/** One accepted problem: which check, and one line for the log and /readyz. */
export interface ConfigWarning {
  readonly check: UpstreamAcceptsCheck;
  /** The file, field, value and problem, why upstream accepts it and what flannel-ts does with it. */
  readonly message: string;
}

/**
 * The warnings of one parse of net-conf.json. Checks listed in `strict` are refused after all:
 * in etcd mode upstream does check the subnet ranges ('subnet-range').
 */
export class ConfigWarnings {
  readonly list: ConfigWarning[] = [];
  private readonly strict: ReadonlySet<UpstreamAcceptsCheck>;

  constructor(strict: Iterable<UpstreamAcceptsCheck> = []) {
    this.strict = new Set(strict);
  }

  /** Accepts the problem `error` describes (or throws it, when the check is strict here); `outcome` says what is used instead. */
  accept(check: UpstreamAcceptsCheck, error: ConfigError, outcome: string): void {
    if (this.strict.has(check)) throw error;
    const message = `${error.message}; accepted, as ${UPSTREAM_ACCEPTS[check]}: ${outcome}`;
    if (!this.list.some((w) => w.message === message)) this.list.push({ check, message });
  }
}

/** How many problems of each check, for the metrics. */
export function countByCheck(warnings: readonly ConfigWarning[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const w of warnings) out[w.check] = (out[w.check] ?? 0) + 1;
  return out;
}
