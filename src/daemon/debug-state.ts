import { release } from 'node:os';
import type { Backend, ExternalInterface } from '../backends/backend.ts';
import type { NetConf } from '../config/types.ts';
import type { DaemonConfig } from './config.ts';
import type { DaemonDebugState, LeaseView, PeerHealthView, Verdict } from '../doctor/daemon-state.ts';
import { formatAnyCidr } from '../ip/cidr.ts';
import { formatCidr } from '../ip/ipv4.ts';
import type { CsumPolicy } from '../kernel/tx-csum.ts';
import { leaseSubnets, type Lease } from '../subnet/lease.ts';
import { networksText } from './network-runner.ts';
import { VERSION } from '../version.ts';

export interface DebugStateInput {
  readonly config: DaemonConfig;
  readonly startedAt: Date;
  readonly ready: Verdict;
  readonly live: Verdict;
  readonly conf: NetConf | undefined;
  readonly ext: ExternalInterface | undefined;
  readonly lease: Lease | undefined;
  readonly backend: Backend | undefined;
  readonly csum: CsumPolicy;
  readonly peers: Iterable<Lease>;
  readonly peerHealth: PeerHealthView | undefined;
  readonly logTail: readonly string[];
}

/** The daemon's view for /debug/state; paths and settings only, never credentials. */
export function buildDebugState(i: DebugStateInput): DaemonDebugState {
  const o = i.config;
  const peers = [...i.peers].map(leaseView).sort((a, b) => (a.subnet < b.subnet ? -1 : a.subnet > b.subnet ? 1 : 0));
  return {
    schema: 1,
    version: VERSION,
    pid: process.pid,
    startedAt: i.startedAt.toISOString(),
    kernel: release(),
    ready: i.ready,
    live: i.live,
    settings: i.config.settings,
    ...(i.conf !== undefined
      ? { config: { network: networksText(i.conf), backend: { ...i.conf.backend }, enableNFTables: i.conf.enableNFTables } }
      : {}),
    ...(i.ext !== undefined ? { external: i.ext } : {}),
    ...(i.lease !== undefined ? { lease: leaseView(i.lease) } : {}),
    ...(i.backend !== undefined ? { backend: { type: i.backend.type, mtu: i.backend.mtu } } : {}),
    csumOffload: { mode: o.vxlanCsumOffload, want: i.csum.want ?? null, reason: i.csum.reason },
    peers,
    peerHealth: i.peerHealth ?? { enabled: false, intervalSeconds: o.peerHealthIntervalSeconds, peersProbed: 0, rounds: 0, unreachable: [] },
    logTail: i.logTail,
  };
}

function leaseView(l: Lease): LeaseView {
  return {
    ...(l.node !== undefined ? { node: l.node } : {}),
    // The first half is IPv4's; an IPv6-only lease shows its IPv6 half there too.
    subnet: l.subnet !== undefined ? formatCidr(l.subnet) : leaseSubnets(l),
    publicIp: l.attrs.publicIp ?? l.attrs.publicIpv6 ?? '',
    backendType: l.attrs.backendType,
    backendData: (l.subnet !== undefined ? l.attrs.backendData : l.attrs.backendV6Data) ?? 'null',
    ...(l.ipv6Subnet !== undefined
      ? { ipv6Subnet: formatAnyCidr(l.ipv6Subnet), publicIpv6: l.attrs.publicIpv6 ?? '', backendV6Data: l.attrs.backendV6Data ?? 'null' }
      : {}),
  };
}
