/**
 * What a running lab consists of, saved under /run/flannel-lab/ so that another process
 * (`flannel-lab down`, a test's cleanup) can remove all of it.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const STATE_DIR = '/run/flannel-lab';

export type BackendType = 'vxlan' | 'host-gw' | 'udp';

/** Which families the cluster runs: net-conf.json's EnableIPv4/EnableIPv6 and the nodes' podCIDRs. */
export type IpFamilyMode = 'ipv4' | 'dual' | 'ipv6';

export interface NodeState {
  readonly index: number;
  /** The Kubernetes Node name; also the name of the node's namespace. */
  readonly name: string;
  readonly netns: string;
  readonly underlayIp: string;
  /** fd00:198:18::(10+i), when the lab has IPv6. */
  readonly underlayIp6?: string;
  /** The primary podCIDR: the IPv4 one, or the IPv6 one in an IPv6-only lab. In etcd mode the daemon picks it: set from subnet.env once written. */
  podCidr: string;
  /** The IPv6 podCIDR fd00:10:244:(i+1)::/64, when the lab has IPv6 (in etcd mode the daemon's pick, as podCidr). */
  podCidr6?: string;
  readonly subnetFile: string;
  readonly netConfFile: string;
  readonly logFile: string;
  /**
   * This node's net-conf.json backend when it is not the lab's: a mixed cluster, or a node a
   * test switched (Lab.setBackend), so that a restarted daemon reads the same file.
   */
  backend?: BackendType;
  /** The daemon, when one runs. */
  daemonPid?: number;
}

export interface PodState {
  readonly name: string;
  readonly node: number;
  readonly index: number;
  readonly netns: string;
  /** The primary address: IPv4, or IPv6 in an IPv6-only lab. */
  readonly ip: string;
  /** The IPv6 address, when the lab has IPv6. */
  readonly ip6?: string;
}

export interface LabState {
  readonly prefix: string;
  /**
   * The process that owns the lab and removes it when done (a test run), or undefined for a lab
   * left up on purpose by `flannel-lab up`. A lab whose owner has died is stale (see sweepStaleLabs).
   */
  readonly ownerPid?: number;
  readonly runDir: string;
  readonly backend: BackendType;
  readonly directRouting: boolean;
  /** Absent in state files of labs made before IPv6: 'ipv4'. */
  readonly ipFamily?: IpFamilyMode;
  /** net-conf.json's EnableNFTables. */
  readonly nftables?: boolean;
  /** 'flanneld': our daemon programs the nodes; 'none': the lab wrote subnet.env and host-gw style routes itself. */
  readonly daemon: 'flanneld' | 'none';
  /** Whether the daemons got --ip-masq (and subnet.env says FLANNEL_IPMASQ=true). */
  readonly ipMasq: boolean;
  /** The daemon's command when it is not bin/flanneld. */
  readonly daemonCommand?: readonly string[];
  /** Environment added to the daemons' (e.g. FLANNEL_API_SILENCE_SECONDS). */
  readonly daemonEnv?: Readonly<Record<string, string>>;
  /** The API server double's bookmark interval when not its default. */
  readonly apiBookmarkIntervalMs?: number;
  /** More flags for every daemon, also after a restart (e.g. --migration-grace=2). */
  readonly daemonArgs?: readonly string[];
  readonly underlayNetns: string;
  /** The kubeconfig the daemons use (the double's, written into the run dir, or the user's). */
  kubeconfig?: string;
  /** True when the Kubernetes API is a real server given by --kubeconfig. */
  readonly realApiServer: boolean;
  apiServerPid?: number;
  /** 'etcd': the daemons use the lab's etcd (lab/etcd.ts) instead of a Kubernetes API. */
  readonly subnetMgr?: 'etcd';
  etcdPid?: number;
  /** Root-namespace plumbing made for a real API server (see real-apiserver.ts), to undo on down. */
  uplink?: { readonly rootLink: string; readonly serverIp: string; readonly masqRule: readonly string[] };
  readonly nodes: NodeState[];
  readonly pods: PodState[];
}

export function stateFile(prefix: string): string {
  return join(STATE_DIR, `${prefix}.json`);
}

export function saveState(state: LabState): void {
  mkdirSync(STATE_DIR, { recursive: true, mode: 0o755 });
  writeFileSync(stateFile(state.prefix), JSON.stringify(state, null, 2) + '\n');
}

export function loadState(prefix: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(prefix), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export function removeState(prefix: string): void {
  rmSync(stateFile(prefix), { force: true });
}

/** Prefixes of the labs that have a state file. */
export function savedLabs(): string[] {
  try {
    return readdirSync(STATE_DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length));
  } catch {
    return [];
  }
}
