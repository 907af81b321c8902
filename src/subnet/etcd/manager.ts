/**
 * The etcd subnet manager (pkg/subnet/etcd/local_manager.go, registry.go): the own lease is a key
 * `<prefix>/subnets/<ip>-<len>` (dual-stack: `…&<ip6>-<len>`) attached to a 24 h etcd lease and
 * renewed before it expires; the other nodes' leases come from a list of that directory and a
 * watch from the next revision.
 *
 * Where it deliberately differs from upstream:
 * - a creation race (two nodes picking one subnet) is retried with a fresh list; upstream compares
 *   against the wrong error and exits;
 * - when IPv6 is turned on, a node keeps its IPv4 subnet and only gains an IPv6 one;
 * - acquisition that fails (etcd unreachable, no free subnet) is retried with backoff and reported
 *   by /readyz instead of exiting, and "out of subnets" says which range, how many leases and the
 *   oldest holders;
 * - a reservation (a key without TTL) reused by its node stays without TTL; upstream attaches a
 *   24 h lease to it, so it expires once the node is gone;
 * - a subnet whose value cannot be decoded is still taken (upstream ignores the key, picks its
 *   subnet and fails on the create);
 * - a watch that may have gone silent (no answer to a probe) is re-opened; peers come without
 *   one TimeToLive request each.
 */
import { errorText } from '../../util/errors.ts';
import { Backoff, sleep, type BackoffOptions } from '../../util/retry.ts';
import { formatCidr, formatIpv4, type Ipv4Cidr } from '../../ip/ipv4.ts';
import { formatCidr6, formatIpv6, type Ipv6Cidr } from '../../ip/ipv6.ts';
import type { Logger } from '../../observe/log.ts';
import { sameLeaseAttrs, sameSubnetAnyFamily, type Lease, type LeaseAttrs, type LeaseEvent } from '../lease.ts';
import type { StoredNodeInfo, SubnetManager } from '../manager.ts';
import { LeaseSubscribers } from '../lease-subscribers.ts';
import {
  freeSubnets,
  freeSubnets6,
  isIpv6SubnetCompatible,
  isSubnetCompatible,
  OutOfSubnetsError,
  outOfSubnetsMessage,
  overlaps,
  overlaps6,
  pickSubnet,
  type StoredLease,
  type SubnetRange,
} from './allocate.ts';
import type { EtcdClient, KeyValue, WatchResponse } from './client.ts';
import { decodeLeaseValue, encodeLeaseValue, MalformedLeaseError, parseSubnetKey, subnetKeyName, subnetsPrefix, type SubnetKey } from './lease-value.ts';

/** Upstream's subnetTTL: every write attaches a fresh 24 h etcd lease. */
export const SUBNET_TTL_SECONDS = 24 * 60 * 60;
/** Upstream's raceRetries. */
const RACE_RETRIES = 10;
/** Upstream retries a failed renewal after a minute. */
const RENEW_RETRY_MS = 60_000;


/** Upstream's watch reconnect backoff (registry.go watchSubnets): 100 ms doubling to 5 s. */
export const WATCH_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5000 };

export interface EtcdSubnetManagerOptions {
  readonly client: EtcdClient;
  /** --etcd-prefix. */
  readonly prefix: string;
  /** The validated config from `<prefix>/config` (allocation range). */
  readonly range: SubnetRange;
  /** FLANNEL_SUBNET of the previous subnet.env, tried before a random subnet. */
  readonly previousSubnet?: Ipv4Cidr;
  /** FLANNEL_IPV6_SUBNET of the previous subnet.env, the same for a dual-stack network's IPv6 half. */
  readonly previousIpv6Subnet?: Ipv6Cidr;
  /** --subnet-lease-renew-margin, in milliseconds. */
  readonly renewMarginMs: number;
  /** Called once when the own lease is deleted: upstream shuts the daemon down (exit 0). */
  readonly onLeaseRevoked: () => void;
  readonly log: Logger;
  /** Tests shorten these. */
  readonly ttlSeconds?: number;
  readonly watchBackoff?: BackoffOptions;
  /** Retry backoff of a failed acquisition; default 1 s doubling to 30 s. */
  readonly acquireBackoff?: BackoffOptions;
  /** How often an open watch is checked by a small request; default 30 s. */
  readonly probeIntervalMs?: number;
}

export interface EtcdSubnetStats {
  readonly watchRestarts: number;
  readonly relists: number;
  /** Times a key was skipped for a malformed key or value (once per distinct problem). */
  readonly malformedSkipped: number;
  readonly knownPeers: number;
  readonly renewals: number;
}

interface OwnLease extends SubnetKey {
  readonly key: string;
  readonly attrs: LeaseAttrs;
  /** etcd lease ID; '0' for a reservation. */
  lease: string;
  /** When the etcd lease runs out (ms since epoch); undefined for a reservation. */
  expiresAt: number | undefined;
  /** The store revision of our last write: a list or delete older than that says nothing. */
  revision: number;
}

interface Listing {
  readonly revision: number;
  readonly leases: StoredLease[];
  /** Every key listed, usable or not. */
  readonly keys: ReadonlySet<string>;
}

/** Raised inside the watch loop when the start revision was compacted away. */
class Compacted extends Error {}

export class EtcdSubnetManager implements SubnetManager {
  readonly name: string;
  private readonly client: EtcdClient;
  private readonly dir: string;
  private readonly range: SubnetRange;
  private readonly previous: Partial<SubnetKey>;
  private readonly renewMarginMs: number;
  private readonly ttl: number;
  private readonly onLeaseRevoked: () => void;
  private readonly log: Logger;
  private readonly watchBackoff: BackoffOptions;
  private readonly acquireBackoff: BackoffOptions;
  private readonly probeIntervalMs: number;
  private readonly stop = new AbortController();
  private own: OwnLease | undefined;
  private revoked = false;
  /** Valid leases of other nodes, by key. */
  private readonly peers = new Map<string, Lease>();
  /** Keys whose last value was unusable, with the reason (logged once per reason). */
  private readonly malformed = new Map<string, string>();
  private watching = false;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private readonly subscribers: LeaseSubscribers;
  private renewTimer: NodeJS.Timeout | undefined;
  private acquireProblem: string | undefined;
  private acquiring = false;
  private counters = { watchRestarts: 0, relists: 0, malformedSkipped: 0, renewals: 0 };

  constructor(opts: EtcdSubnetManagerOptions) {
    this.client = opts.client;
    this.dir = subnetsPrefix(opts.prefix);
    this.range = opts.range;
    this.previous = { ...(opts.previousSubnet ? { subnet: opts.previousSubnet } : {}), ...(opts.previousIpv6Subnet ? { ipv6Subnet: opts.previousIpv6Subnet } : {}) };
    this.renewMarginMs = opts.renewMarginMs;
    this.ttl = opts.ttlSeconds ?? SUBNET_TTL_SECONDS;
    this.onLeaseRevoked = opts.onLeaseRevoked;
    this.log = opts.log;
    this.subscribers = new LeaseSubscribers(opts.log);
    this.watchBackoff = opts.watchBackoff ?? WATCH_BACKOFF;
    this.acquireBackoff = opts.acquireBackoff ?? { initialMs: 1000, maxMs: 30_000 };
    this.probeIntervalMs = opts.probeIntervalMs ?? 30_000;
    this.name = `Etcd Local Manager with Previous Subnet: ${opts.previousSubnet ? formatCidr(opts.previousSubnet) : 'None'}`;
  }

  get stats(): EtcdSubnetStats {
    return { ...this.counters, knownPeers: this.peers.size };
  }

  /** While acquireLease runs: what it waits for (for /readyz). */
  get waitingFor(): string | undefined {
    return this.acquireProblem ?? (this.acquiring ? `acquiring a subnet lease in etcd at ${this.client.endpoint}` : undefined);
  }

  /** The own lease's key, e.g. `/coreos.com/network/subnets/10.5.52.0-24`, once acquired. */
  get leaseKey(): string | undefined {
    return this.own?.key;
  }

  /** Upstream's etcd manager stores nothing about the node (GetStoredPublicIP returns ""). */
  async storedNodeInfo(_signal: AbortSignal): Promise<StoredNodeInfo> {
    return {};
  }

  /**
   * Upstream's order: a lease with our PublicIP (reused if it fits the config, else deleted),
   * then the previous subnet from subnet.env if free, then a random free subnet; created in a
   * transaction that fails if the key exists. Retries until it has a lease or `signal` aborts.
   */
  async acquireLease(attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease> {
    const both = AbortSignal.any([signal, this.stop.signal]);
    const backoff = new Backoff(this.acquireBackoff);
    let last: string | undefined;
    this.acquiring = true;
    try {
      for (;;) {
        try {
          const lease = await this.tryAcquire(attrs, both);
          this.acquireProblem = undefined;
          // A peer claiming our subnet is never reported (upstream compares by subnet too).
          this.emit(this.dropPeersWithSubnet(lease));
          return lease;
        } catch (e) {
          if (both.aborted) throw e;
          const msg = errorText(e);
          this.acquireProblem = `acquiring a subnet lease in etcd: ${msg}`;
          if (msg !== last) this.log.error(`failed to acquire lease: ${msg}; trying again (backoff up to ${this.acquireBackoff.maxMs / 1000} s)`);
          last = msg;
          if (!(await sleep(backoff.next(), both))) throw both.reason;
        }
      }
    } finally {
      this.acquiring = false;
    }
  }

  /**
   * One pass of upstream's tryAcquireLease. Better than upstream in one case: when a lease or the
   * previous subnet fits the config in IPv4 but not in IPv6 (IPv6 was just enabled), the node keeps
   * its IPv4 subnet and gets a new IPv6 one, instead of both moving (and every pod address with them).
   */
  private async tryAcquire(attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease> {
    for (let race = 0; race < RACE_RETRIES; race++) {
      const { leases } = await this.list(signal);
      // Upstream matches the node by its IPv4 public address only.
      const mine = leases.find((l) => l.attrs?.publicIp === attrs.publicIp);
      const keep: { subnet?: Ipv4Cidr; ipv6Subnet?: Ipv6Cidr } = {};
      if (mine !== undefined) {
        const v4 = isSubnetCompatible(this.range, mine.subnet);
        const v6 = isIpv6SubnetCompatible(this.range, mine.ipv6Subnet);
        if (v4 && v6) {
          this.log.info(`Found lease (ip: ${formatCidr(mine.subnet)} ipv6: ${v6Text(mine.ipv6Subnet)}) for current IP (${attrs.publicIp}), reusing`);
          return await this.write(mine, attrs, mine.lease === '0' ? 'reservation' : 'lease', signal);
        }
        this.log.info(`Found lease (ip: ${formatCidr(mine.subnet)} ipv6: ${v6Text(mine.ipv6Subnet)}) for current IP (${attrs.publicIp}) but not compatible with current config, deleting`);
        await this.client.delete(mine.key, signal);
        if (v4) keep.subnet = mine.subnet;
        if (v6 && mine.ipv6Subnet !== undefined) keep.ipv6Subnet = mine.ipv6Subnet;
      }
      const others = leases.filter((l) => l !== mine);
      this.takePrevious(keep, others);
      const subnet = keep.subnet ?? this.pick(others);
      const ipv6Subnet = this.range.ipv6 === undefined ? undefined : (keep.ipv6Subnet ?? this.pick6(others));
      const want: SubnetKey = ipv6Subnet === undefined ? { subnet } : { subnet, ipv6Subnet };
      const created = await this.create(want, attrs, signal);
      if (created !== undefined) {
        this.log.info(`Allocated lease (ip: ${formatCidr(subnet)} ipv6: ${v6Text(ipv6Subnet)}) to current node (${attrs.publicIp})`);
        return created;
      }
      this.log.info(`subnet ${subnetText(want)} was taken by another node at the same moment; picking again`);
    }
    throw new Error(`max retries reached trying to acquire a subnet (${RACE_RETRIES} creation races lost in a row)`);
  }

  /** The previous subnet.env's subnets, each family where it is still free and fits the config. */
  private takePrevious(keep: { subnet?: Ipv4Cidr; ipv6Subnet?: Ipv6Cidr }, others: readonly StoredLease[]): void {
    const { subnet: prev, ipv6Subnet: prev6 } = this.previous;
    if (keep.subnet === undefined && prev !== undefined && !others.some((l) => overlaps(l.subnet, prev))) {
      if (isSubnetCompatible(this.range, prev)) {
        this.log.info(`Found previously leased subnet (${formatCidr(prev)}), reusing`);
        keep.subnet = prev;
      } else {
        this.log.error(`Found previously leased subnet (${formatCidr(prev)}) that is not compatible with the Etcd network config, ignoring`);
      }
    }
    if (keep.ipv6Subnet === undefined && prev6 !== undefined && this.range.ipv6 !== undefined && !others.some((l) => l.ipv6Subnet !== undefined && overlaps6(l.ipv6Subnet, prev6))) {
      if (isIpv6SubnetCompatible(this.range, prev6)) {
        this.log.info(`Found previously leased IPv6 subnet (${formatCidr6(prev6)}), reusing`);
        keep.ipv6Subnet = prev6;
      } else {
        this.log.error(`Found previously leased IPv6 subnet (${formatCidr6(prev6)}) that is not compatible with the Etcd network config, ignoring`);
      }
    }
  }

  /** A random free IPv4 subnet (allocateSubnet). */
  private pick(others: readonly StoredLease[]): Ipv4Cidr {
    this.log.info(`Picking subnet in range ${formatIpv4(this.range.subnetMin)} ... ${formatIpv4(this.range.subnetMax)}`);
    const subnet = pickSubnet(freeSubnets(this.range, others.map((l) => l.subnet)));
    if (subnet === undefined) throw new OutOfSubnetsError(outOfSubnetsMessage(this.range, others, this.dir));
    return subnet;
  }

  /** A random free IPv6 subnet, chosen independently of the IPv4 one, as upstream. */
  private pick6(others: readonly StoredLease[]): Ipv6Cidr {
    const r = this.range.ipv6!;
    this.log.info(`Picking ipv6 subnet in range ${formatIpv6(r.subnetMin)} ... ${formatIpv6(r.subnetMax)}`);
    const taken = others.flatMap((l) => (l.ipv6Subnet === undefined ? [] : [l.ipv6Subnet]));
    const subnet = pickSubnet(freeSubnets6(r, taken));
    if (subnet === undefined) throw new OutOfSubnetsError(outOfSubnetsMessage(this.range, others, this.dir, 'ipv6'));
    return subnet;
  }

  /** Grant + `If(Version(key)==0) Then Put(key, value, lease)`; undefined when the key exists. */
  private async create(subnets: SubnetKey, attrs: LeaseAttrs, signal: AbortSignal): Promise<Lease | undefined> {
    const key = this.dir + subnetKeyName(subnets.subnet, subnets.ipv6Subnet);
    const grant = await this.client.leaseGrant(this.ttl, signal);
    let created: { succeeded: boolean; revision: number };
    try {
      created = await this.client.createIfAbsent(key, encodeLeaseValue(attrs), grant.id, signal);
    } catch (e) {
      this.revokeQuietly(grant.id);
      throw e;
    }
    if (!created.succeeded) {
      this.revokeQuietly(grant.id);
      return undefined;
    }
    return this.remember(key, subnets, attrs, grant.id, Date.now() + grant.ttl * 1000, created.revision);
  }

  /** Writes the own lease's value again: with a fresh 24 h etcd lease, or without TTL for a reservation. */
  private async write(subnets: SubnetKey, attrs: LeaseAttrs, kind: 'lease' | 'reservation', signal: AbortSignal): Promise<Lease> {
    const key = this.dir + subnetKeyName(subnets.subnet, subnets.ipv6Subnet);
    const value = encodeLeaseValue(attrs);
    if (kind === 'reservation') {
      const revision = await this.client.put(key, value, '0', signal);
      return this.remember(key, subnets, attrs, '0', undefined, revision);
    }
    const grant = await this.client.leaseGrant(this.ttl, signal);
    let revision: number;
    try {
      revision = await this.client.put(key, value, grant.id, signal);
    } catch (e) {
      this.revokeQuietly(grant.id);
      throw e;
    }
    return this.remember(key, subnets, attrs, grant.id, Date.now() + grant.ttl * 1000, revision);
  }

  private remember(key: string, subnets: SubnetKey, attrs: LeaseAttrs, lease: string, expiresAt: number | undefined, revision = 0): Lease {
    const { subnet, ipv6Subnet } = subnets;
    this.own = { key, subnet, ...(ipv6Subnet ? { ipv6Subnet } : {}), attrs, lease, expiresAt, revision: Math.max(revision, this.own?.revision ?? 0) };
    return { subnet, ...(ipv6Subnet ? { ipv6Subnet } : {}), attrs };
  }

  private revokeQuietly(id: string): void {
    this.client.leaseRevoke(id).catch((e: unknown) => this.log.warn(`revoking unused etcd lease ${id}: ${errorText(e)}`));
  }

  watchLeases(onEvents: (events: readonly LeaseEvent[]) => void, signal: AbortSignal): void {
    this.ensureWatching();
    const subscribe = (): void => {
      if (signal.aborted) return;
      this.subscribers.add(onEvents, signal);
      onEvents([...this.peers.values()].map((lease) => ({ type: 'added', lease })));
    };
    if (this.synced) subscribe();
    else this.syncWaiters.push(subscribe);
  }

  /**
   * Upstream's CompleteLease: renew `renew-margin` before expiry (a failure is retried after a
   * minute), and shut down when the own key is deleted. Both run in the background; this returns.
   */
  async completeLease(_signal: AbortSignal): Promise<void> {
    this.ensureWatching();
    this.scheduleRenewal();
  }

  close(): void {
    this.stop.abort();
    clearTimeout(this.renewTimer);
    this.client.close();
  }

  private scheduleRenewal(): void {
    clearTimeout(this.renewTimer);
    const own = this.own;
    if (own === undefined || own.expiresAt === undefined || this.revoked || this.stop.signal.aborted) return;
    const wait = Math.max(0, own.expiresAt - this.renewMarginMs - Date.now());
    this.log.info(`Waiting for ${formatDuration(wait)} to renew lease`);
    this.renewTimer = setTimeout(() => void this.renew(), wait);
  }

  private async renew(): Promise<void> {
    const own = this.own;
    if (own === undefined || this.revoked || this.stop.signal.aborted) return;
    try {
      await this.write(own, own.attrs, 'lease', this.stop.signal);
      this.counters.renewals++;
      this.log.info(`Lease renewed, new expiration: ${new Date(this.own!.expiresAt!).toISOString()}`);
      this.scheduleRenewal();
    } catch (e) {
      if (this.stop.signal.aborted) return;
      this.log.error(`Error renewing lease (trying again in 1 min): ${errorText(e)}`);
      this.renewTimer = setTimeout(() => void this.renew(), RENEW_RETRY_MS);
    }
  }

  /** Lists `<prefix>/subnets/`: every key whose name is a subnet, decodable value or not. */
  private async list(signal: AbortSignal): Promise<Listing> {
    const r = await this.client.range(this.dir, { prefix: true, signal });
    const leases: StoredLease[] = [];
    const keys = new Set<string>();
    for (const kv of r.kvs) {
      keys.add(kv.key);
      const s = this.toStored(kv);
      if (s !== undefined) leases.push(s);
    }
    return { revision: r.revision, leases, keys };
  }

  /** A listed or watched key as a lease; logs (once per problem) what makes it unusable. */
  private toStored(kv: KeyValue): StoredLease | undefined {
    const subnets = parseSubnetKey(kv.key);
    if (typeof subnets === 'string') {
      this.noteMalformed(kv.key, `key ${subnets}`);
      return undefined;
    }
    let attrs: LeaseAttrs | undefined;
    try {
      attrs = decodeLeaseValue(kv.value);
    } catch (e) {
      if (!(e instanceof MalformedLeaseError)) throw e;
      this.noteMalformed(kv.key, e.message);
    }
    return { key: kv.key, ...subnets, ...(attrs ? { attrs } : {}), lease: kv.lease, createRevision: kv.createRevision };
  }

  private noteMalformed(key: string, why: string): void {
    if (this.malformed.get(key) === why) return;
    this.malformed.set(key, why);
    this.counters.malformedSkipped++;
    this.log.warn({ key }, `ignoring etcd key ${key}: ${why}${this.peers.has(key) ? ' (keeping its last valid lease)' : ''}`);
  }

  private ensureWatching(): void {
    if (this.watching) return;
    this.watching = true;
    void this.watchLoop(this.stop.signal);
  }

  /**
   * List, then watch from the next revision; on a dropped stream re-watch from the last revision
   * seen (backoff 100 ms … 5 s); on a compacted revision list again and report the difference,
   * so nothing deleted or added meanwhile is lost or left stale.
   */
  private async watchLoop(signal: AbortSignal): Promise<void> {
    let revision = 0;
    let needList = true;
    const backoff = new Backoff(this.watchBackoff);
    let lastProblem = '';
    while (!signal.aborted) {
      try {
        if (needList) {
          const listing = await this.list(signal);
          if (this.synced) this.counters.relists++;
          this.applyListing(listing);
          revision = listing.revision;
          needList = false;
        }
        await this.watchOnce(revision + 1, (r) => (revision = r), () => backoff.reset(), signal);
        if (signal.aborted) return;
        this.counters.watchRestarts++;
        this.log.warn(`etcd watch for ${this.dir} closed, reconnecting from rev ${revision + 1}`);
        lastProblem = '';
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof Compacted) {
          this.log.warn(`etcd watch for ${this.dir} fell behind compaction horizon (${e.message}), re-listing and resuming`);
          this.counters.watchRestarts++;
          needList = true;
          continue;
        }
        const msg = errorText(e);
        if (msg !== lastProblem) this.log.warn(`etcd watch for ${this.dir} failed (${msg}); retrying from rev ${revision + 1} with backoff up to ${this.watchBackoff.maxMs / 1000} s`);
        lastProblem = msg;
        if (!needList) this.counters.watchRestarts++;
      }
      await sleep(backoff.next(), signal);
    }
  }

  /** One watch stream; returns when it ends. A probe that fails ends it too (a silent dead connection). */
  private async watchOnce(from: number, setRevision: (r: number) => void, onCreated: () => void, signal: AbortSignal): Promise<void> {
    const stream = new AbortController();
    const both = AbortSignal.any([signal, stream.signal]);
    let ended: Error | undefined;
    const probe = setInterval(() => {
      this.client.range(this.dir, { prefix: true, countOnly: true, signal: both }).catch((e: unknown) => {
        if (both.aborted) return;
        this.log.warn(`etcd did not answer a check while watching (${errorText(e)}); re-opening the watch`);
        stream.abort();
      });
    }, this.probeIntervalMs);
    try {
      await this.client.watch(
        this.dir,
        { prefix: true, startRevision: from },
        (r: WatchResponse) => {
          if (ended !== undefined) return;
          if (r.canceled) {
            ended = r.compactRevision > 0 ? new Compacted(`compact rev ${r.compactRevision}`) : new Error(`etcd cancelled the watch: ${r.cancelReason || 'no reason given'}`);
            stream.abort();
            return;
          }
          if (r.created) {
            onCreated();
            return;
          }
          this.applyWatchEvents(r);
          // The created response carries the current revision, not what was delivered: only
          // event and progress responses move the resume point.
          if (r.revision > 0) setRevision(r.revision);
        },
        both,
      );
    } finally {
      clearInterval(probe);
    }
    if (ended !== undefined) throw ended;
  }

  /** A fresh list replaces the view: changed and new leases `added`, vanished ones `removed`. */
  private applyListing(listing: Listing): void {
    const events: LeaseEvent[] = [];
    const seen = new Set<string>();
    let ownSeen = false;
    for (const l of listing.leases) {
      if (this.own !== undefined && l.key === this.own.key) {
        ownSeen = true;
        this.noteOwnPut(l.lease);
        continue;
      }
      seen.add(l.key);
      this.updatePeer(l, events);
    }
    for (const [key, lease] of this.peers) {
      if (!seen.has(key)) {
        this.peers.delete(key);
        events.push({ type: 'removed', lease });
      }
    }
    for (const key of this.malformed.keys()) if (!listing.keys.has(key)) this.malformed.delete(key);
    if (this.own !== undefined && !ownSeen && listing.revision >= this.own.revision) this.ownDeleted();
    const first = !this.synced;
    this.synced = true;
    if (first) {
      for (const w of this.syncWaiters.splice(0)) w();
    } else {
      this.emit(events);
    }
  }

  private applyWatchEvents(r: WatchResponse): void {
    const events: LeaseEvent[] = [];
    for (const ev of r.events) {
      const key = ev.kv.key;
      if (this.own !== undefined && key === this.own.key) {
        if (ev.type === 'delete') {
          if (ev.kv.modRevision >= this.own.revision) this.ownDeleted();
        } else {
          this.noteOwnPut(ev.kv.lease);
        }
        continue;
      }
      if (ev.type === 'delete') {
        this.malformed.delete(key);
        const prev = this.peers.get(key);
        if (prev !== undefined) {
          this.peers.delete(key);
          events.push({ type: 'removed', lease: prev });
        }
        continue;
      }
      const stored = this.toStored(ev.kv);
      if (stored !== undefined) this.updatePeer(stored, events);
    }
    this.emit(events);
  }

  /** Level-correct update of one peer (a malformed value keeps the last valid lease). */
  private updatePeer(l: StoredLease, out: LeaseEvent[]): void {
    if (l.attrs === undefined) return;
    this.malformed.delete(l.key);
    const next: Lease = { subnet: l.subnet, ...(l.ipv6Subnet ? { ipv6Subnet: l.ipv6Subnet } : {}), attrs: l.attrs };
    // A key claiming our subnet (in either family) is never a peer.
    if (this.own !== undefined && sameSubnetAnyFamily(next, this.own)) return;
    const prev = this.peers.get(l.key);
    this.peers.set(l.key, next);
    if (prev === undefined || !sameLeaseAttrs(prev.attrs, next.attrs)) out.push({ type: 'added', lease: next });
  }

  private dropPeersWithSubnet(own: Lease): LeaseEvent[] {
    const out: LeaseEvent[] = [];
    for (const [key, peer] of this.peers) {
      if (sameSubnetAnyFamily(peer, own)) {
        this.peers.delete(key);
        out.push({ type: 'removed', lease: peer });
      }
    }
    return out;
  }

  /** The own key was written by someone (our renewal, or an operator): follow its etcd lease. */
  private noteOwnPut(lease: string): void {
    const own = this.own;
    if (own === undefined || lease === own.lease) return;
    own.lease = lease;
    if (lease === '0') {
      own.expiresAt = undefined;
      clearTimeout(this.renewTimer);
      this.log.info(`lease ${own.key} is now a reservation (no TTL); no renewals`);
      return;
    }
    this.client.leaseTimeToLive(lease, this.stop.signal).then(
      (ttl) => {
        if (this.own !== own || own.lease !== lease || ttl < 0) return;
        own.expiresAt = Date.now() + ttl * 1000;
        this.scheduleRenewal();
      },
      () => undefined,
    );
  }

  private ownDeleted(): void {
    if (this.revoked) return;
    this.revoked = true;
    clearTimeout(this.renewTimer);
    this.log.error('Lease has been revoked. Shutting down daemon.');
    this.onLeaseRevoked();
  }

  private emit(events: readonly LeaseEvent[]): void {
    this.subscribers.emit(events);
  }
}

/** A lease's IPv6 subnet as upstream's log lines print it (`<nil>` without one). */
function v6Text(c: Ipv6Cidr | undefined): string {
  return c === undefined ? '<nil>' : formatCidr6(c);
}

function subnetText(k: SubnetKey): string {
  return k.ipv6Subnet === undefined ? formatCidr(k.subnet) : `${formatCidr(k.subnet)} and ${formatCidr6(k.ipv6Subnet)}`;
}

/** Go's time.Duration String for whole seconds: 23h0m0s. */
function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${m}m${s % 60}s` : m > 0 ? `${m}m${s % 60}s` : `${s}s`;
}
