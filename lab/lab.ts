/**
 * The multi-node lab: an underlay bridge namespace (harness/topology.ts), N node
 * namespaces each running our daemon against a Kubernetes API (the double, or a real server),
 * and pods attached through the CNI reference plugins exactly as flannel's CNI plugin would.
 * Test tooling: it drives `ip netns` and CNI plugins on purpose.
 *
 *   const lab = await createLab({ nodes: 3, backend: 'vxlan' });
 *   try { expect((await lab.waitForFullConnectivity()).failures).toEqual([]); }
 *   finally { await lab.destroy(); }
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiRequest, fetchIn, startApiServerDouble, type ApiResponse } from './apiserver-process.ts';
import { cniAdd } from './cni.ts';
import { manifestFlannelNetConf } from './cni-delegate.ts';
import { formatMatrix, ping, pingMatrix, pingStream, waitForFullConnectivity, type Endpoint, type Matrix, type PingStats } from './connectivity.ts';
import { netConfJson, startDaemon, waitForSubnetFile } from './daemon.ts';
import { runIn, type RunOptions, type RunResult } from './harness/exec.ts';
import { createNetns } from './harness/netns.ts';
import { assertPreflight } from './preflight.ts';
import { stopProcess } from './processes.ts';
import { apiServerAddress, createRealNodes, createUplink } from './real-apiserver.ts';
import { saveState, type BackendType, type IpFamilyMode, type LabState, type NodeState, type PodState } from './state.ts';
import { parseFlannelSubnetEnv, type FlannelSubnetEnv } from './subnet-env.ts';
import { teardown } from './teardown.ts';
import { installCni } from './cni-install.ts';
import { disableDad } from './harness/topology.ts';
import { createNode, createUnderlay, nodePodCidr, nodePodCidr6, nodeUnderlayIp, nodeUnderlayIpv6, NODE_UPLINK, POD_NETWORK } from './topology.ts';
import { ETCD_ENDPOINT, etcdProblem, labEtcdctl, putLabNetConf, startLabEtcd } from './etcd.ts';

export interface LabOptions {
  readonly nodes: number;
  /** Default 'vxlan'. */
  readonly backend?: BackendType;
  /** vxlan only: DirectRouting (all nodes share the underlay, so every peer is routed directly). */
  readonly directRouting?: boolean;
  /**
   * 'ipv4' (default); 'dual' adds the IPv6 underlay fd00:198:18::/64, IPv6Network fd00:10:244::/56
   * with a /64 per node and pods with both families; 'ipv6' runs the cluster IPv6-only (the API
   * server double stays on its IPv4 address, the control plane only).
   */
  readonly ipFamily?: IpFamilyMode;
  /** EnableNFTables in net-conf.json: masquerade and forward rules in nftables (default iptables). */
  readonly nftables?: boolean;
  /** Default 1. */
  readonly podsPerNode?: number;
  /** Names every namespace; default `fl` + random hex. Keep it short: namespaces are named `<prefix>-node0-pod0`. */
  readonly prefix?: string;
  /**
   * 'flanneld' (default) runs our daemon on every node. 'none' runs no daemon and no API server:
   * the lab writes each node's subnet.env and host-gw style routes itself, which tests the CNI
   * wiring alone.
   */
  readonly daemon?: 'flanneld' | 'none';
  /**
   * The daemon's command before its flags, default bin/flanneld: lets a test run a stand-in, or an
   * upstream flanneld binary for a mixed cluster.
   */
  readonly daemonCommand?: readonly string[];
  /** Pass --ip-masq to the daemons, as the manifest does (default true). */
  readonly ipMasq?: boolean;
  /** A real API server's kubeconfig instead of the double (best effort; see real-apiserver.ts). */
  readonly kubeconfig?: string;
  /**
   * 'kube' (default): the daemons use the Kubernetes API. 'etcd': a real etcd in the underlay
   * namespace holds the config and the leases; subnets are allocated by the daemons, so a node's
   * podCidr is known once its subnet.env is written.
   */
  readonly subnetMgr?: 'kube' | 'etcd';
  /**
   * True (default) when this process removes the lab itself, as tests do; a lab whose owner died
   * without removing it is swept by the next test run. `flannel-lab up` passes false.
   */
  readonly owned?: boolean;
  /** How long each daemon gets to write subnet.env; default 30 s. */
  readonly subnetTimeoutMs?: number;
  /** Added to every daemon's environment (e.g. FLANNEL_API_SILENCE_SECONDS for a short API-loss limit). */
  readonly daemonEnv?: Readonly<Record<string, string>>;
  /** The API server double's bookmark interval (its default: 10 s). */
  readonly apiBookmarkIntervalMs?: number;
  /** A backend per node (a mixed cluster); node i runs nodeBackends[i], the rest `backend`. */
  readonly nodeBackends?: readonly BackendType[];
  /** More flags for every daemon, kept for restarts (e.g. ['--migration-grace=2']). */
  readonly daemonArgs?: readonly string[];
}

export interface LabNode {
  readonly index: number;
  readonly name: string;
  readonly netns: string;
  readonly underlayIp: string;
  readonly underlayIp6: string | undefined;
  /** The primary podCIDR (IPv4, or IPv6 in an IPv6-only lab). */
  readonly podCidr: string;
  readonly podCidr6: string | undefined;
  readonly subnetFile: string;
  readonly logFile: string;
  readonly daemonPid: number | undefined;
  exec(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  subnetEnv(): FlannelSubnetEnv;
  /** GET http://127.0.0.1:<port><path> inside the node namespace: the daemon's /metrics (9862), /healthz and /readyz (8081). */
  http(path: string, port: number): Promise<ApiResponse>;
}

export interface LabPod extends Endpoint {
  readonly node: number;
  readonly index: number;
  exec(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

export class Lab {
  readonly state: LabState;

  constructor(state: LabState) {
    this.state = state;
  }

  get prefix(): string {
    return this.state.prefix;
  }

  get nodeCount(): number {
    return this.state.nodes.length;
  }

  node(i: number): LabNode {
    const n = this.state.nodes[i];
    if (n === undefined) throw new Error(`lab ${this.prefix} has no node ${i} (it has ${this.nodeCount})`);
    return {
      index: n.index,
      name: n.name,
      netns: n.netns,
      underlayIp: n.underlayIp,
      underlayIp6: n.underlayIp6,
      podCidr: n.podCidr,
      podCidr6: n.podCidr6,
      subnetFile: n.subnetFile,
      logFile: n.logFile,
      daemonPid: n.daemonPid,
      exec: (argv, opts) => runIn(n.netns, argv, opts),
      subnetEnv: () => parseFlannelSubnetEnv(readFileSync(n.subnetFile, 'utf8'), n.subnetFile),
      http: (path, port) => fetchIn(n.netns, 'GET', `http://127.0.0.1:${port}${path}`),
    };
  }

  pod(node: number, index: number): LabPod {
    const p = this.state.pods.find((q) => q.node === node && q.index === index);
    if (p === undefined) throw new Error(`lab ${this.prefix} has no pod ${index} on node ${node}`);
    return podHandle(p);
  }

  pods(): LabPod[] {
    return this.state.pods.map(podHandle);
  }

  /** The families the lab runs, IPv4 first. */
  get families(): ('ipv4' | 'ipv6')[] {
    const f = this.state.ipFamily ?? 'ipv4';
    return f === 'dual' ? ['ipv4', 'ipv6'] : [f];
  }

  /** One echo from a pod to a pod (its primary address) or an address; true when it was answered. */
  ping(from: LabPod, to: LabPod | string): Promise<boolean> {
    return ping(from, typeof to === 'string' ? to : to.ip);
  }

  /** `count` echoes every `intervalSeconds` (default 0.01 = 100/s); resolves with how many came back. */
  pingStream(from: LabPod, to: LabPod | string, count: number, intervalSeconds?: number): Promise<PingStats> {
    return pingStream(from, typeof to === 'string' ? to : to.ip, count, intervalSeconds);
  }

  /** The pods as endpoints of one family: named `<pod> (IPv6)` in the IPv6 half of a dual-stack lab. */
  endpoints(family: 'ipv4' | 'ipv6'): Endpoint[] {
    const dual = this.families.length === 2;
    return this.pods().map((p) => {
      if (family === 'ipv4' || !dual) return { name: p.name, netns: p.netns, ip: p.ip };
      return { name: `${p.name} (IPv6)`, netns: p.netns, ip: p.ip6! };
    });
  }

  /** Every pod pings every other on every family: the first family's matrix, all failures, and each family's matrix. */
  async pingMatrix(): Promise<FamilyMatrix> {
    const byFamily: Matrix[] = [];
    for (const f of this.families) byFamily.push(await pingMatrix(this.endpoints(f)));
    return combined(byFamily);
  }

  /** Repeats the matrices until every pod reaches every other on every family, or the time is up. */
  async waitForFullConnectivity(timeoutMs?: number): Promise<FamilyMatrix> {
    const byFamily: Matrix[] = [];
    for (const f of this.families) byFamily.push(await waitForFullConnectivity(this.endpoints(f), timeoutMs));
    return combined(byFamily);
  }

  /** A request to the API server double (for example DELETE /api/v1/nodes/<name>). */
  api(method: string, path: string, body?: unknown, contentType?: string): Promise<ApiResponse> {
    if (this.state.daemon === 'none' || this.state.realApiServer || this.state.subnetMgr === 'etcd') throw new Error(`lab ${this.prefix} runs no API server double`);
    return apiRequest(this.state.underlayNetns, method, path, body, contentType);
  }

  /** etcdctl against the lab's etcd (`--subnet-mgr etcd`), e.g. `['get', '--prefix', '/coreos.com/network/subnets/']`. */
  etcdctl(args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    if (this.state.subnetMgr !== 'etcd') throw new Error(`lab ${this.prefix} runs no etcd`);
    return labEtcdctl(this.state.underlayNetns, args, opts);
  }

  /** Stops the lab's etcd (SIGTERM); its data directory stays for startEtcd. */
  async stopEtcd(): Promise<void> {
    const pid = this.state.etcdPid;
    if (pid === undefined) return;
    await stopProcess(pid);
    delete this.state.etcdPid;
    saveState(this.state);
  }

  /** Starts the lab's etcd again with the data it had. */
  async startEtcd(): Promise<void> {
    if (this.state.subnetMgr !== 'etcd') throw new Error(`lab ${this.prefix} runs no etcd`);
    if (this.state.etcdPid !== undefined) throw new Error(`lab ${this.prefix}: etcd is already running (pid ${this.state.etcdPid})`);
    this.state.etcdPid = (await startLabEtcd(this.state.underlayNetns, this.state.runDir)).pid;
    saveState(this.state);
  }

  /** Stops a node's daemon (SIGTERM, then SIGKILL); its kernel state stays, as on a real node. */
  async stopDaemon(i: number): Promise<void> {
    const n = this.state.nodes[i];
    if (n?.daemonPid === undefined) return;
    await stopProcess(n.daemonPid);
    delete n.daemonPid;
    saveState(this.state);
  }

  /**
   * Starts a node's daemon again with the same flags and files; resolves once subnet.env is
   * written (or at once with `wait: false`, for a daemon that is expected to wait, e.g. for a podCIDR).
   * `netConf` replaces the net-conf.json the lab writes.
   */
  async startDaemon(i: number, opts: { wait?: boolean; extraArgs?: readonly string[]; netConf?: string } = {}): Promise<void> {
    const n = this.state.nodes[i];
    if (n === undefined || (this.state.kubeconfig === undefined && this.state.subnetMgr !== 'etcd')) throw new Error(`lab ${this.prefix}: node ${i} runs no daemon`);
    const d = startDaemon(n, { ...daemonOptions(this.state), ...(opts.extraArgs !== undefined ? { extraArgs: opts.extraArgs } : {}), ...(opts.netConf !== undefined ? { netConf: opts.netConf } : {}) });
    n.daemonPid = d.pid;
    saveState(this.state);
    if (opts.wait !== false) await waitForSubnetFile(n, d);
  }

  /** Resolves once node i's subnet.env exists (after a daemon started with `wait: false`). */
  async waitForSubnetFile(i: number, timeoutMs?: number): Promise<void> {
    const n = this.state.nodes[i];
    if (n === undefined) throw new Error(`lab ${this.prefix} has no node ${i}`);
    await waitForSubnetFile(n, undefined, timeoutMs);
  }

  /**
   * Adds a node to the running lab: its namespace on the underlay, a Node object in the API server
   * double (with podCIDR 10.244.(i+1).0/24, or none with `podCidr: false`), its daemon, and — once it
   * wrote subnet.env — `pods` pods (default 1). With `podCidr: false` it neither waits nor adds pods;
   * set the podCIDR through lab.api, then call waitForSubnetFile and addPods. Returns the index.
   */
  async addNode(opts: { podCidr?: boolean; pods?: number } = {}): Promise<number> {
    const s = this.state;
    if (s.daemon === 'none' || s.realApiServer || s.subnetMgr === 'etcd') throw new Error(`lab ${this.prefix}: addNode needs the API server double`);
    const i = s.nodes.length;
    const n = nodeState(s.prefix, s.runDir, i, s.ipFamily ?? 'ipv4');
    s.nodes.push(n);
    saveState(s);
    await createNode(n.netns, s.underlayNetns, i, n.podCidr6 !== undefined);
    const cidrs = podCidrsOf(n, s.ipFamily ?? 'ipv4');
    const spec = opts.podCidr === false ? {} : { podCIDR: cidrs[0]!, podCIDRs: cidrs };
    const created = await this.api('POST', '/api/v1/nodes', { metadata: { name: n.name, annotations: { dummy: 'value' } }, spec });
    if (created.status !== 201) throw new Error(`creating Node ${n.name}: HTTP ${created.status} ${created.body}`);
    await this.startDaemon(i, { wait: opts.podCidr !== false });
    if (opts.podCidr !== false) await this.addPods(i, opts.pods ?? 1);
    return i;
  }

  /** Attaches `count` more pods to node i (its subnet.env must exist). */
  async addPods(i: number, count: number): Promise<void> {
    const n = this.state.nodes[i];
    if (n === undefined) throw new Error(`lab ${this.prefix} has no node ${i}`);
    await attachPods(this.state, n, count);
  }

  /** Stops the API server double (SIGTERM; it saves its objects and resourceVersion, as etcd keeps them). */
  async stopApiServer(): Promise<void> {
    const pid = this.state.apiServerPid;
    if (pid === undefined) return;
    await stopProcess(pid);
    delete this.state.apiServerPid;
    saveState(this.state);
  }

  /**
   * Writes node i's net-conf.json with another backend, as the kubelet does when its copy of
   * the ConfigMap changes; the running daemon picks it up (a live backend switch), and a
   * restarted one starts with it.
   */
  setBackend(i: number, backend: BackendType): void {
    const n = this.state.nodes[i];
    if (n === undefined) throw new Error(`lab ${this.prefix} has no node ${i}`);
    n.backend = backend;
    saveState(this.state);
    const s = this.state;
    writeFileSync(n.netConfFile, netConfJson(backend, s.directRouting && backend === 'vxlan', s.ipFamily ?? 'ipv4', s.nftables ?? false));
  }

  /** The backend node i's net-conf.json says. */
  backendOf(i: number): BackendType {
    const n = this.state.nodes[i];
    if (n === undefined) throw new Error(`lab ${this.prefix} has no node ${i}`);
    return n.backend ?? this.state.backend;
  }

  /** Starts the API server double again on the same address and port, with the objects it had. */
  async startApiServer(): Promise<void> {
    if (this.state.daemon === 'none' || this.state.realApiServer) throw new Error(`lab ${this.prefix} runs no API server double`);
    if (this.state.apiServerPid !== undefined) throw new Error(`lab ${this.prefix}: the API server double is already running (pid ${this.state.apiServerPid})`);
    const api = await startApiServerDouble(this.state.underlayNetns, this.state.runDir, [], this.state.apiBookmarkIntervalMs);
    this.state.apiServerPid = api.process.pid;
    saveState(this.state);
  }

  describe(): string {
    const s = this.state;
    const lines = [
      `lab ${s.prefix}: ${s.nodes.length} nodes, backend ${s.daemon === 'none' ? 'none (static routes)' : s.backend}${s.directRouting ? ' +DirectRouting' : ''}, ${s.ipFamily ?? 'ipv4'}${s.subnetMgr === 'etcd' ? `, subnets in etcd at ${ETCD_ENDPOINT} (etcdctl: ip netns exec ${s.underlayNetns} etcdctl --endpoints ${ETCD_ENDPOINT} …)` : ''}, run dir ${s.runDir}`,
      'nodes:',
      ...s.nodes.map((n) => `  ${n.name}${n.backend !== undefined && n.backend !== s.backend ? ` (${n.backend})` : ''}  ${[n.underlayIp, n.underlayIp6].filter((x) => x !== undefined).join(' ')}  podCIDRs ${podCidrsOf(n, s.ipFamily ?? 'ipv4').join(',')}  netns ${n.netns}${n.daemonPid ? `  daemon pid ${n.daemonPid}` : ''}${s.daemon === 'flanneld' ? `  log ${n.logFile}` : ''}`),
      'pods:',
      ...s.pods.map((p) => `  ${p.name}  on ${s.nodes[p.node]!.name}  ${[p.ip, p.ip6].filter((x, i) => x !== undefined && !(i === 1 && x === p.ip)).join(' ')}`),
    ];
    return lines.join('\n');
  }

  destroy(): Promise<void> {
    return teardown(this.state.prefix);
  }
}

/** A matrix per family (IPv4 first); the fields of Matrix are the first family's, `failures` are all of them. */
export type FamilyMatrix = Matrix & { readonly byFamily: readonly Matrix[] };

function combined(byFamily: readonly Matrix[]): FamilyMatrix {
  return { ...byFamily[0]!, failures: byFamily.flatMap((m) => m.failures), byFamily };
}

/** The matrix of each family, then one verdict. */
export function formatConnectivity(m: Matrix & { readonly byFamily?: readonly Matrix[] }): string {
  const tables = (m.byFamily ?? [m]).map(formatMatrix).join('\n\n');
  return `${tables}\n${m.failures.length === 0 ? 'all pods reach each other' : `FAILED: ${m.failures.join(', ')}`}`;
}

function podHandle(p: PodState): LabPod {
  return { name: p.name, netns: p.netns, ip: p.ip, ...(p.ip6 !== undefined ? { ip6: p.ip6 } : {}), node: p.node, index: p.index, exec: (argv, opts) => runIn(p.netns, argv, opts) };
}

/** A node's spec.podCIDRs: IPv4 first in dual-stack, as kube-controller-manager orders them by --cluster-cidr. */
function podCidrsOf(n: NodeState, family: IpFamilyMode): string[] {
  return family === 'dual' ? [n.podCidr, n.podCidr6!] : [n.podCidr];
}

function daemonOptions(s: LabState) {
  return {
    backend: s.backend,
    directRouting: s.directRouting,
    ipFamily: s.ipFamily ?? 'ipv4',
    nftables: s.nftables ?? false,
    ipMasq: s.ipMasq,
    ...(s.subnetMgr === 'etcd' ? { etcdEndpoint: ETCD_ENDPOINT } : { kubeconfig: s.kubeconfig! }),
    ...(s.daemonCommand !== undefined ? { command: s.daemonCommand } : {}),
    ...(s.daemonEnv !== undefined ? { env: s.daemonEnv } : {}),
    ...(s.daemonArgs !== undefined ? { daemonArgs: s.daemonArgs } : {}),
  };
}

export function randomPrefix(): string {
  return `fl${randomBytes(3).toString('hex')}`;
}

/** Builds the lab; on any failure removes whatever it had built and rethrows. */
export async function createLab(opts: LabOptions): Promise<Lab> {
  assertPreflight();
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > 200) throw new Error(`nodes must be 1..200, got ${opts.nodes}`);
  const podsPerNode = opts.podsPerNode ?? 1;
  if (!Number.isInteger(podsPerNode) || podsPerNode < 0 || podsPerNode > 200) throw new Error(`podsPerNode must be 0..200, got ${podsPerNode}`);
  const prefix = opts.prefix ?? randomPrefix();
  if (!/^[a-z][a-z0-9]{0,11}$/.test(prefix)) throw new Error(`prefix must be 1-12 lowercase letters/digits starting with a letter, got ${JSON.stringify(prefix)}`);
  const ipFamily = opts.ipFamily ?? 'ipv4';
  if (!['ipv4', 'dual', 'ipv6'].includes(ipFamily)) throw new Error(`ipFamily must be ipv4, dual or ipv6, got ${JSON.stringify(ipFamily)}`);
  const backend = opts.backend ?? 'vxlan';
  if (opts.subnetMgr === 'etcd') {
    const problem = etcdProblem();
    if (problem !== undefined) throw new Error(`flannel-lab cannot run etcd mode here: ${problem}`);
    if (opts.kubeconfig !== undefined || opts.daemon === 'none') throw new Error('subnetMgr etcd runs our daemons against the lab\'s etcd: no kubeconfig, no daemon: none');
    if (ipFamily === 'ipv6') throw new Error('etcd mode is IPv4 or dual-stack: upstream keys every etcd lease by its IPv4 subnet');
  }
  if (ipFamily !== 'ipv4' && (backend === 'udp' || opts.nodeBackends?.includes('udp') === true)) throw new Error('the udp backend carries IPv4 only (as upstream\'s); use vxlan or host-gw with IPv6');
  if (opts.nodeBackends !== undefined && opts.nodeBackends.length > opts.nodes) throw new Error(`nodeBackends names ${opts.nodeBackends.length} backends for ${opts.nodes} nodes`);
  if (ipFamily !== 'ipv4' && opts.daemon === 'none') throw new Error('a lab without daemons is IPv4 only');
  const runDir = mkdtempSync(join(tmpdir(), `flannel-lab-${prefix}-`));
  const state: LabState = {
    prefix,
    ...(opts.owned === false ? {} : { ownerPid: process.pid }),
    runDir,
    backend,
    directRouting: backend === 'vxlan' && (opts.directRouting ?? false),
    ipFamily,
    ...(opts.nftables === true ? { nftables: true } : {}),
    daemon: opts.daemon ?? 'flanneld',
    ipMasq: opts.ipMasq ?? true,
    ...(opts.daemonCommand !== undefined ? { daemonCommand: opts.daemonCommand } : {}),
    ...(opts.daemonEnv !== undefined ? { daemonEnv: opts.daemonEnv } : {}),
    ...(opts.apiBookmarkIntervalMs !== undefined ? { apiBookmarkIntervalMs: opts.apiBookmarkIntervalMs } : {}),
    ...(opts.daemonArgs !== undefined ? { daemonArgs: opts.daemonArgs } : {}),
    underlayNetns: `${prefix}-underlay`,
    realApiServer: opts.kubeconfig !== undefined,
    ...(opts.subnetMgr === 'etcd' ? { subnetMgr: 'etcd' as const } : {}),
    nodes: Array.from({ length: opts.nodes }, (_, i) => ({ ...nodeState(prefix, runDir, i, ipFamily), ...(opts.nodeBackends?.[i] !== undefined ? { backend: opts.nodeBackends[i] } : {}) })),
    pods: [],
  };
  saveState(state);
  try {
    await build(state, opts, podsPerNode);
    return new Lab(state);
  } catch (e) {
    await teardown(prefix).catch(() => {});
    throw e;
  }
}

function nodeState(prefix: string, runDir: string, i: number, family: IpFamilyMode): NodeState {
  const name = `${prefix}-node${i}`;
  const dir = join(runDir, name);
  mkdirSync(dir, { recursive: true });
  installCni(dir);
  const v6 = family !== 'ipv4';
  return {
    index: i,
    name,
    netns: name,
    underlayIp: nodeUnderlayIp(i),
    ...(v6 ? { underlayIp6: nodeUnderlayIpv6(i), podCidr6: nodePodCidr6(i) } : {}),
    podCidr: family === 'ipv6' ? nodePodCidr6(i) : nodePodCidr(i),
    subnetFile: join(dir, 'subnet.env'),
    netConfFile: join(dir, 'net-conf.json'),
    logFile: join(dir, 'flanneld.log'),
  };
}

async function build(state: LabState, opts: LabOptions, podsPerNode: number): Promise<void> {
  const v6 = (state.ipFamily ?? 'ipv4') !== 'ipv4';
  await createUnderlay(state.underlayNetns, v6);
  for (const n of state.nodes) await createNode(n.netns, state.underlayNetns, n.index, v6);

  if (state.daemon === 'none') {
    await playFlannelByHand(state);
  } else {
    if (state.subnetMgr === 'etcd') await startEtcd(state);
    else await startApi(state, opts);
    const daemons = state.nodes.map((n) => {
      const d = startDaemon(n, daemonOptions(state));
      n.daemonPid = d.pid;
      return d;
    });
    saveState(state);
    await Promise.all(state.nodes.map((n, i) => waitForSubnetFile(n, daemons[i], opts.subnetTimeoutMs)));
    // In etcd mode the daemons chose their subnets.
    if (state.subnetMgr === 'etcd') {
      for (const n of state.nodes) {
        const env = parseFlannelSubnetEnv(readFileSync(n.subnetFile, 'utf8'), n.subnetFile);
        n.podCidr = env.subnet ?? n.podCidr;
        if (env.ipv6Subnet !== undefined) n.podCidr6 = env.ipv6Subnet;
      }
      saveState(state);
    }
  }

  for (const n of state.nodes) await attachPods(state, n, podsPerNode);
}

/** Attaches `count` more pods to a node, wired from its subnet.env as flannel's CNI plugin would. */
async function attachPods(state: LabState, n: NodeState, count: number): Promise<void> {
  const env = parseFlannelSubnetEnv(readFileSync(n.subnetFile, 'utf8'), n.subnetFile);
  const dir = join(state.runDir, n.name);
  const conf = manifestFlannelNetConf({ dataDir: join(dir, 'ipam') });
  const first = state.pods.filter((p) => p.node === n.index).length;
  for (let j = first; j < first + count; j++) {
    const name = `${n.name}-pod${j}`;
    await createNetns(name);
    if (env.ipv6Subnet !== undefined) await disableDad(name);
    const attached = await cniAdd({ nodeNetns: n.netns, podNetns: name, containerId: name, dataDir: join(dir, 'cni-flannel') }, conf, env);
    state.pods.push({ name, node: n.index, index: j, netns: name, ip: attached.ip, ...(attached.ip6 !== undefined ? { ip6: attached.ip6 } : {}) });
    saveState(state);
  }
}

async function startEtcd(state: LabState): Promise<void> {
  state.etcdPid = (await startLabEtcd(state.underlayNetns, state.runDir)).pid;
  saveState(state);
  await putLabNetConf(state.underlayNetns, netConfJson(state.backend, state.directRouting, state.ipFamily ?? 'ipv4', state.nftables ?? false));
}

async function startApi(state: LabState, opts: LabOptions): Promise<void> {
  const seeds = state.nodes.map((n) => ({ name: n.name, podCidrs: podCidrsOf(n, state.ipFamily ?? 'ipv4') }));
  if (opts.kubeconfig !== undefined) {
    const serverIp = await apiServerAddress(opts.kubeconfig);
    await createRealNodes(opts.kubeconfig, seeds);
    state.kubeconfig = opts.kubeconfig;
    state.uplink = await createUplink(state.prefix, state.underlayNetns, state.nodes.map((n) => n.netns), serverIp);
    saveState(state);
    return;
  }
  const api = await startApiServerDouble(state.underlayNetns, state.runDir, seeds, state.apiBookmarkIntervalMs);
  state.apiServerPid = api.process.pid;
  state.kubeconfig = api.kubeconfig;
  saveState(state);
}

/**
 * No daemon: write what flanneld would write to subnet.env (WriteSubnetFile in upstream's
 * pkg/subnet/subnet.go, host-gw on a 1500-byte link) and the per-peer routes host-gw would install
 * (pkg/backend/hostgw/hostgw.go: each peer's subnet via its public IP), so pods can be wired
 * and pinged.
 */
async function playFlannelByHand(state: LabState): Promise<void> {
  for (const n of state.nodes) {
    const first = n.podCidr.replace(/\.0\/24$/, '.1/24');
    writeFileSync(n.subnetFile, `FLANNEL_NETWORK=${POD_NETWORK}\nFLANNEL_SUBNET=${first}\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=${state.ipMasq}\n`, { mode: 0o644 });
    for (const peer of state.nodes) {
      if (peer === n) continue;
      await runIn(n.netns, ['ip', 'route', 'add', peer.podCidr, 'via', peer.underlayIp, 'dev', NODE_UPLINK]);
    }
  }
}
