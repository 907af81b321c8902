/**
 * The Kubernetes subnet manager (upstream's pkg/subnet/kube/kube.go): the own lease is the node's podCIDR, published as node
 * annotations; the other nodes' leases come from a node list+watch.
 *
 * Where it deliberately differs from upstream: it waits for a missing podCIDR instead of exiting;
 * a peer with malformed annotations is skipped (logged once, counted) and keeps its last valid
 * lease; watches never stop (node-reflector.ts); podCIDR changes of peers are forwarded; the
 * annotation PATCH goes out only when an annotation really differs (upstream re-patches on every
 * start when public-ip-overwrite is set).
 */
import { containsAnyCidr, familyName, formatAnyCidr, isIpv6Cidr, type Families, type IpCidr } from '../../ip/cidr.ts';
import type { Ipv4Cidr } from '../../ip/ipv4.ts';
import type { Ipv6Cidr } from '../../ip/ipv6.ts';
import type { Logger } from '../../observe/log.ts';
import { WarnOnce } from '../../observe/warn-once.ts';
import { leaseKey, leaseSubnets, sameLeaseAttrs, sameSubnetAnyFamily, type Lease, type LeaseAttrs, type LeaseEvent } from '../lease.ts';
import type { StoredNodeInfo, SubnetManager } from '../manager.ts';
import { LeaseSubscribers } from '../lease-subscribers.ts';
import { annotationKeys, type AnnotationKeys } from './annotations.ts';
import type { KubeApi, NodeView } from './api.ts';
import { DEFAULT_BACKOFF, NodeReflector, type NodeDelta, type NodeReflectorOptions, type WatchRestartReason } from './node-reflector.ts';
import { ApiContact, apiSilenceMs } from './api-contact.ts';
import { errorText } from '../../util/errors.ts';
import { retry, type BackoffOptions } from '../../util/retry.ts';
import {
  annotationChanges,
  annotationPatch,
  isFlannelNode,
  MalformedNodeError,
  networkAvailablePatch,
  nodeToLease,
  podCidrs,
  publishedAttrs,
  storedInfoOf,
  type PeerLease,
} from './node-lease.ts';
import { eventQueueDepth, resolveNodeName } from './node-name.ts';
import { continueWhenCacheNotReady, NODE_SYNC_TIMEOUT_MS, waitForNodeSync } from './sync-deadline.ts';

/** Plain integers for the metrics layer, read at scrape time. */
export interface KubeSubnetStats {
  /** Watches re-opened, by reason: `expiry` (the server ended it, or 410) and `error`. */
  readonly watchRestarts: Readonly<Record<WatchRestartReason, number>>;
  readonly relists: number;
  readonly apiErrors: number;
  /** How many times a peer was skipped for malformed annotations (once per distinct problem). */
  readonly malformedPeersSkipped: number;
  /** Peers currently malformed. */
  readonly malformedPeers: number;
  /** How many times a peer was programmed without its half of a family (once per distinct problem), by family. */
  readonly incompletePeersSkipped: Readonly<Record<'ipv4' | 'ipv6', number>>;
  /** Peers with a valid lease (own node excluded). */
  readonly knownPeers: number;
  readonly annotationPatches: number;
}

/** For readiness: what acquireLease is waiting for, if anything. */
export type KubeLeaseState = 'starting' | 'waiting-for-node' | 'waiting-for-pod-cidr' | 'ready';

export interface KubeSubnetManagerOptions {
  readonly api: KubeApi;
  readonly nodeName: string;
  /** --kube-annotation-prefix, raw (normalised here). */
  readonly annotationPrefix: string;
  /** net-conf Network, present with IPv4; the IPv4 podCIDR must lie inside it. */
  readonly network?: Ipv4Cidr;
  /** net-conf IPv6Network, present with IPv6; the IPv6 podCIDR must lie inside it. */
  readonly ipv6Network?: Ipv6Cidr;
  /** --set-node-network-unavailable (default true). */
  readonly setNodeNetworkUnavailable: boolean;
  readonly log: Logger;
  readonly backoff?: BackoffOptions;
  readonly now?: () => Date;
  /** The first node list's deadline and CONT_WHEN_CACHE_NOT_READY (sync-deadline.ts); default 10 min, off. */
  readonly syncTimeoutMs?: number;
  readonly continueWhenCacheNotReady?: boolean;
  /** Contact with the API server: fed by the client, told of 410s and relists here. */
  readonly contact?: ApiContact;
  /** Node list page size and watch timeouts (tests); the defaults are client-go's. */
  readonly reflector?: Omit<NodeReflectorOptions, 'backoff'>;
}

export class KubeSubnetManager implements SubnetManager {
  readonly name: string;
  readonly nodeName: string;
  readonly keys: AnnotationKeys;
  private readonly api: KubeApi;
  private readonly network: Ipv4Cidr | undefined;
  private readonly ipv6Network: Ipv6Cidr | undefined;
  private readonly families: Families;
  private readonly setNodeNetworkUnavailable: boolean;
  private readonly log: Logger;
  private readonly backoff: BackoffOptions;
  private readonly now: () => Date;
  private readonly reflector: NodeReflector;
  private readonly stop = new AbortController();
  private started = false;
  private ownLease: Lease | undefined;
  private readonly peers = new Map<string, Lease>();
  private readonly malformed = new Map<string, string>();
  private malformedSkipped = 0;
  /** Peers programmed without one family's half: node → the problem, logged once. */
  private readonly incomplete = new Map<string, string>();
  private readonly incompleteSkipped = { ipv4: 0, ipv6: 0 };
  private patches = 0;
  private readonly subscribers: LeaseSubscribers;
  private changeWaiters: (() => void)[] = [];
  private leaseState: KubeLeaseState = 'starting';
  /** The own node as storedNodeInfo read it, for acquireLease until the first list is in. */
  private ownNodeRead: NodeView | undefined;
  private readonly syncDeadline: { readonly timeoutMs: number; readonly continueWhenNotReady: boolean };
  readonly contact: ApiContact | undefined;

  constructor(opts: KubeSubnetManagerOptions) {
    this.api = opts.api;
    this.nodeName = opts.nodeName;
    this.name = `Kubernetes Subnet Manager - ${opts.nodeName}`;
    this.keys = annotationKeys(opts.annotationPrefix);
    this.network = opts.network;
    this.ipv6Network = opts.ipv6Network;
    this.families = { ipv4: opts.network !== undefined, ipv6: opts.ipv6Network !== undefined };
    this.setNodeNetworkUnavailable = opts.setNodeNetworkUnavailable;
    this.log = opts.log;
    this.subscribers = new LeaseSubscribers(opts.log);
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.now = opts.now ?? (() => new Date());
    this.syncDeadline = { timeoutMs: opts.syncTimeoutMs ?? NODE_SYNC_TIMEOUT_MS, continueWhenNotReady: opts.continueWhenCacheNotReady ?? false };
    this.contact = opts.contact;
    this.reflector = new NodeReflector(this.api, this.log, (d, relist) => this.onDeltas(d, relist), {
      ...opts.reflector,
      backoff: this.backoff,
      ...(this.contact !== undefined ? { hooks: this.contact } : {}),
    });
    // Silence counts from now: the first requests (the node name, the own node) go out next.
    this.contact?.start(this.stop.signal);
  }

  get state(): KubeLeaseState {
    return this.leaseState;
  }

  get stats(): KubeSubnetStats {
    const r = this.reflector.stats;
    return {
      watchRestarts: { ...r.watchRestarts },
      relists: r.relists,
      apiErrors: r.apiErrors,
      malformedPeersSkipped: this.malformedSkipped,
      malformedPeers: this.malformed.size,
      incompletePeersSkipped: { ...this.incompleteSkipped },
      knownPeers: this.peers.size,
      annotationPatches: this.patches,
    };
  }

  /** Stops the node watch. */
  close(): void {
    this.stop.abort();
  }

  async storedNodeInfo(_signal: AbortSignal): Promise<StoredNodeInfo> {
    try {
      const node = await this.api.getNode(this.nodeName);
      this.ownNodeRead = node;
      return storedInfoOf(node, this.keys);
    } catch (e) {
      this.log.warn({ node: this.nodeName, err: errorText(e) }, 'could not read the node’s stored public IP and VtepMAC; continuing without them');
      return {};
    }
  }

  /**
   * The node list (megabytes with thousands of nodes, and the CPU to parse them) starts only when
   * the lease needs it — the own node as read by storedNodeInfo has no usable podCIDR — or with
   * watchLeases, after subnet.env is written: on a restart the lease and subnet.env then do not
   * wait for the list, nor share the CPU with it.
   */
  async acquireLease(attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease> {
    const { node, ipv4, ipv6 } = await this.ownPodCidrs(signal);
    this.checkContains(this.network, ipv4, '');
    this.checkContains(this.ipv6Network, ipv6, 'IPv6 ');
    const changes = annotationChanges(node, this.keys, attrs);
    if (Object.keys(changes).length > 0) {
      await this.retry(`patch node "${this.nodeName}" annotations`, signal, () => this.api.patchNodeStatus(this.nodeName, annotationPatch(changes)));
      this.patches++;
      this.log.info({ node: this.nodeName, annotations: changes }, 'published lease annotations');
    }
    const lease: Lease = {
      ...(ipv4 === undefined ? {} : { subnet: ipv4 }),
      ...(ipv6 === undefined ? {} : { ipv6Subnet: ipv6 }),
      attrs: publishedAttrs(node, this.keys, attrs),
      node: this.nodeName,
    };
    this.ownLease = lease;
    this.leaseState = 'ready';
    this.dropPeersClaiming(lease);
    return lease;
  }

  /** Upstream's check, per family, with its text (`... IPv6 PodCIDR of ...` for IPv6). */
  private checkContains(network: IpCidr | undefined, cidr: IpCidr | undefined, family: '' | 'IPv6 '): void {
    if (network === undefined || cidr === undefined || containsAnyCidr(network, cidr)) return;
    throw new Error(
      `subnet "${formatAnyCidr(network)}" specified in the flannel net config doesn't contain "${formatAnyCidr(cidr)}" ${family}PodCIDR of the "${this.nodeName}" node`,
    );
  }

  /**
   * The own node and its podCIDR of every enabled family. Waits, saying why once per reason, while
   * the node is not registered or lacks a usable podCIDR of a family; the list and the watch
   * report it when it appears.
   */
  private async ownPodCidrs(signal: AbortSignal): Promise<{ node: NodeView; ipv4?: Ipv4Cidr; ipv6?: Ipv6Cidr }> {
    let early = this.takeOwnNodeRead();
    if (early === undefined) {
      this.ensureStarted();
      await waitForNodeSync((sig) => this.reflector.waitForSync(sig), { ...this.syncDeadline, log: this.log }, signal);
    }
    const warned = new WarnOnce(this.log);
    for (;;) {
      const current = early ?? this.reflector.nodes.get(this.nodeName);
      early = undefined;
      if (current === undefined) {
        this.leaseState = 'waiting-for-node';
        warned.warn('node', `node "${this.nodeName}" is not registered in the API server yet; waiting for it`, { node: this.nodeName });
        await this.nextChange(signal);
        continue;
      }
      const pod = podCidrs(current, this.families);
      if (pod.kind === 'ok') {
        return { node: current, ...(this.families.ipv4 ? { ipv4: pod.ipv4 } : {}), ...(this.families.ipv6 ? { ipv6: pod.ipv6 } : {}) };
      }
      this.leaseState = 'waiting-for-pod-cidr';
      if (pod.kind === 'missing') {
        const nets = [this.network, this.ipv6Network].filter((n) => n !== undefined);
        const cluster = nets.map(formatAnyCidr).join(',');
        const hints = nets.map((n) => `"<a /${isIpv6Cidr(n) ? 64 : 24} inside ${formatAnyCidr(n)}>"`);
        const spec = hints.length === 1 ? `"podCIDR":${hints[0]}` : `"podCIDRs":[${hints.join(',')}]`;
        warned.warn(
          'missing',
          `node "${this.nodeName}" pod cidr not assigned; waiting for spec.podCIDR. Fix: run kube-controller-manager with --allocate-node-cidrs=true --cluster-cidr=${cluster}, or set it by hand: kubectl patch node ${this.nodeName} -p '{"spec":{${spec}}}'`,
          { node: this.nodeName },
        );
      } else {
        warned.error(pod.reason, `node "${this.nodeName}": ${pod.reason}; waiting for a usable spec.podCIDR`, { node: this.nodeName, podCIDRs: current.podCIDRs });
      }
      await this.nextChange(signal);
    }
  }

  /**
   * The own node as storedNodeInfo read it moments ago, when it already has its podCIDR and the
   * first list is not in yet: it is as current as a list would be, so the lease (and subnet.env)
   * need not wait for the whole node list. Used once.
   */
  private takeOwnNodeRead(): NodeView | undefined {
    const early = this.reflector.hasSynced ? undefined : this.ownNodeRead;
    this.ownNodeRead = undefined;
    return early !== undefined && podCidrs(early, this.families).kind === 'ok' ? early : undefined;
  }

  /** A peer claiming one of our subnets is never reported (upstream compares by subnet too). */
  private dropPeersClaiming(own: Lease): void {
    const dropped: LeaseEvent[] = [];
    for (const [name, peer] of this.peers) {
      if (sameSubnetAnyFamily(peer, own)) {
        this.peers.delete(name);
        dropped.push({ type: 'removed', lease: peer });
      }
    }
    this.emit(dropped);
  }

  watchLeases(onEvents: (events: readonly LeaseEvent[]) => void, signal: AbortSignal): void {
    this.ensureStarted();
    this.reflector.waitForSync(signal).then(
      () => {
        if (signal.aborted) return;
        this.subscribers.add(onEvents, signal);
        onEvents([...this.peers.values()].map((lease) => ({ type: 'added', lease })));
      },
      () => undefined, // aborted before the first list
    );
  }

  async completeLease(signal: AbortSignal): Promise<void> {
    if (!this.setNodeNetworkUnavailable) return;
    try {
      await this.retry(`patch node "${this.nodeName}" NetworkUnavailable condition`, signal, () =>
        this.api.patchNodeStatus(this.nodeName, networkAvailablePatch(this.now())),
      5);
      this.log.info({ node: this.nodeName }, 'set NetworkUnavailable=False on the node');
    } catch (e) {
      this.log.error({ node: this.nodeName }, `CompleteLease execute error err: ${errorText(e)}`);
    }
  }

  private ensureStarted(): void {
    if (this.started) return;
    this.started = true;
    void this.reflector.run(this.stop.signal);
  }

  private nextChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      signal.throwIfAborted();
      const onAbort = (): void => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      this.changeWaiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  private onDeltas(deltas: readonly NodeDelta[], relist = false): void {
    const before = relist && this.contact !== undefined ? new Map(this.peers) : undefined;
    const events: LeaseEvent[] = [];
    for (const d of deltas) this.updatePeer(d, events);
    if (before !== undefined) this.contact!.relisted({ nodes: this.reflector.nodes.size, ...peerChanges(before, this.peers) });
    this.emit(events);
    for (const w of this.changeWaiters.splice(0)) w();
  }

  private emit(events: readonly LeaseEvent[]): void {
    this.subscribers.emit(events);
  }

  /** Turns one node change into lease events (level-correct against `peers`). */
  private updatePeer(delta: NodeDelta, out: LeaseEvent[]): void {
    const node = delta.node;
    if (node.name === this.nodeName) return;
    const prev = this.peers.get(node.name);
    let next: Lease | undefined;
    if (delta.type === 'upsert' && isFlannelNode(node, this.keys)) {
      try {
        const peer = nodeToLease(node, this.keys, this.families);
        next = peer.lease;
        this.malformed.delete(node.name);
        this.noteIncomplete(node.name, peer.missing);
      } catch (e) {
        if (!(e instanceof MalformedNodeError)) throw e;
        if (this.malformed.get(node.name) !== e.message) {
          this.malformed.set(node.name, e.message);
          this.malformedSkipped++;
          this.log.warn(
            { node: node.name, annotation: e.field },
            `skipping peer: ${e.message}${prev ? ' (keeping its last valid lease)' : ''}`,
          );
        }
        return;
      }
      if (this.ownLease !== undefined && sameSubnetAnyFamily(next, this.ownLease)) next = undefined;
    } else {
      this.malformed.delete(node.name);
      this.incomplete.delete(node.name);
    }
    if (next === undefined) {
      if (prev !== undefined) {
        this.peers.delete(node.name);
        out.push({ type: 'removed', lease: prev });
      }
      return;
    }
    this.peers.set(node.name, next);
    // Any change is forwarded, one family's alone too: upstream forwards an update only when
    // both families' fields changed, and ignores podCIDR changes (handleUpdateLeaseEvent).
    if (prev === undefined) {
      out.push({ type: 'added', lease: next });
    } else if (leaseKey(prev) !== leaseKey(next)) {
      out.push({ type: 'removed', lease: prev }, { type: 'added', lease: next });
    } else if (leaseSubnets(prev) !== leaseSubnets(next) || !sameLeaseAttrs(prev.attrs, next.attrs)) {
      out.push({ type: 'added', lease: next });
    }
  }

  /**
   * A dual-stack peer without a usable half of one family (no IPv6 podCIDR, no public-ipv6 yet)
   * is programmed for the other family; said once per node and problem, and counted.
   */
  private noteIncomplete(node: string, missing: PeerLease['missing']): void {
    if (missing.length === 0) {
      if (this.incomplete.delete(node)) this.log.info({ node }, `peer ${node} now has every IP family's lease`);
      return;
    }
    const text = missing.map((m) => m.error.message).join('; ');
    if (this.incomplete.get(node) === text) return;
    this.incomplete.set(node, text);
    for (const m of missing) this.incompleteSkipped[m.family]++;
    const families = missing.map((m) => familyName(m.family)).join(' and ');
    this.log.warn({ node, annotations: missing.map((m) => m.error.field) }, `programming peer ${node} without its ${families} half: ${text}`);
  }

  private retry<T>(what: string, signal: AbortSignal, fn: () => Promise<T>, attempts = Infinity): Promise<T> {
    return retry(fn, {
      backoff: this.backoff, signal, attempts,
      onRetry: (e, attempt, delay) => this.log.warn({ err: errorText(e), attempt, retryInMs: delay }, `${what} failed; retrying`),
    });
  }
}

/** Peers a relist added, removed or changed (subnet or attributes), against the peers before it. */
function peerChanges(before: ReadonlyMap<string, Lease>, after: ReadonlyMap<string, Lease>): { added: number; removed: number; changed: number } {
  let added = 0;
  let changed = 0;
  for (const [name, lease] of after) {
    const old = before.get(name);
    if (old === undefined) added++;
    else if (leaseSubnets(old) !== leaseSubnets(lease) || !sameLeaseAttrs(old.attrs, lease.attrs)) changed++;
  }
  let removed = 0;
  for (const name of before.keys()) if (!after.has(name)) removed++;
  return { added, removed, changed };
}

export interface KubeSubnetManagerConfig {
  readonly kubeconfigFile?: string;
  readonly apiUrl?: string;
  readonly annotationPrefix: string;
  readonly network?: Ipv4Cidr;
  readonly ipv6Network?: Ipv6Cidr;
  readonly setNodeNetworkUnavailable: boolean;
  readonly log: Logger;
  readonly env?: NodeJS.ProcessEnv;
  readonly backoff?: BackoffOptions;
  readonly syncTimeoutMs?: number;
  readonly reflector?: Omit<NodeReflectorOptions, 'backoff'>;
}

/**
 * Builds the manager: validates the prefix and EVENT_QUEUE_DEPTH first (cheap, fatal), then loads
 * the client library (the one dynamic import of client-node), then resolves the node name.
 */
export async function createKubeSubnetManager(cfg: KubeSubnetManagerConfig): Promise<KubeSubnetManager> {
  const env = cfg.env ?? process.env;
  const keys = annotationKeys(cfg.annotationPrefix);
  eventQueueDepth(env);
  const contact = new ApiContact({ log: cfg.log, silenceMs: apiSilenceMs(env) });
  const { createKubeApi } = await import('./client.ts');
  const api = await createKubeApi({
    ...(cfg.kubeconfigFile !== undefined ? { kubeconfigFile: cfg.kubeconfigFile } : {}),
    ...(cfg.apiUrl !== undefined ? { apiUrl: cfg.apiUrl } : {}),
    contact,
    env,
    onWarning: (msg) => cfg.log.warn(msg),
    keepAnnotation: (key) => key.startsWith(keys.prefix),
  });
  contact.server = api.server;
  const nodeName = await resolveNodeName(env, api);
  return new KubeSubnetManager({
    api,
    nodeName,
    annotationPrefix: cfg.annotationPrefix,
    ...(cfg.network !== undefined ? { network: cfg.network } : {}),
    ...(cfg.ipv6Network !== undefined ? { ipv6Network: cfg.ipv6Network } : {}),
    setNodeNetworkUnavailable: cfg.setNodeNetworkUnavailable,
    log: cfg.log,
    ...(cfg.backoff !== undefined ? { backoff: cfg.backoff } : {}),
    ...(cfg.syncTimeoutMs !== undefined ? { syncTimeoutMs: cfg.syncTimeoutMs } : {}),
    continueWhenCacheNotReady: continueWhenCacheNotReady(env),
    contact,
    ...(cfg.reflector !== undefined ? { reflector: cfg.reflector } : {}),
  });
}
