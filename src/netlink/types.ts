/**
 * The netlink layer's public surface: plain, readonly data types for kernel objects and the
 * handle that lists and changes them. Backends depend on this file only; the codec and the
 * socket behind it live beside it. Addresses are text (dotted IPv4, lowercase colon MACs),
 * so objects compare with === and print as operators read them.
 *
 * Every operation names its iproute2 twin in its doc comment.
 */
import { AF_BRIDGE, AF_INET, AF_INET6 } from './constants.ts';

// The constants callers put into or read from these objects; defined once, in constants.ts.
export {
  AF_BRIDGE, AF_INET, AF_INET6, IFA_F_DEPRECATED, IFA_F_PERMANENT, IFA_F_SECONDARY, NTF_SELF, NUD_NOARP, NUD_PERMANENT,
  RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RTN_BLACKHOLE, RTN_UNICAST, RTPROT_KERNEL,
} from './constants.ts';

export interface VxlanInfo {
  readonly vni: number;
  /** Source address of encapsulated packets (IFLA_VXLAN_LOCAL). */
  readonly local?: string;
  /** Index of the underlay device (IFLA_VXLAN_LINK). */
  readonly underlayIndex?: number;
  /** UDP destination port; the kernel's default when created without one is 8472. */
  readonly port?: number;
  readonly learning?: boolean;
  readonly gbp?: boolean;
}

export type LinkKind = 'vxlan' | 'dummy' | 'veth' | 'bridge' | 'tun' | (string & {});

export interface Link {
  readonly index: number;
  readonly name: string;
  /** IFLA_INFO_KIND; '' for devices without one (loopback, physical NICs). */
  readonly kind: LinkKind;
  readonly mtu: number;
  /** IFF_UP set administratively. */
  readonly up: boolean;
  /** IFF_LOWER_UP / operstate up. */
  readonly lowerUp: boolean;
  /** Lowercase `aa:bb:cc:dd:ee:ff`, '' when the device has none. */
  readonly mac: string;
  readonly masterIndex?: number;
  readonly vxlan?: VxlanInfo;
}

export interface LinkSpec {
  readonly name: string;
  readonly kind: 'vxlan' | 'dummy' | 'veth' | 'bridge';
  readonly mtu?: number;
  readonly mac?: string;
  /** `txqueuelen N`; absent: the kernel's default (1000). */
  readonly txQueueLen?: number;
  readonly vxlan?: VxlanInfo;
  /** veth only: the peer's name, and optionally a netns fd/path for the peer end. */
  readonly peerName?: string;
  /** veth only: put the peer end into this netns (a name under /run/netns, or a path). */
  readonly peerNetns?: string;
}

export interface LinkChange {
  readonly up?: boolean;
  readonly mtu?: number;
  readonly mac?: string;
  readonly masterIndex?: number;
}

export interface Addr {
  readonly index: number;
  readonly family: typeof AF_INET | typeof AF_INET6;
  /** The address, e.g. '10.244.1.0'. */
  readonly address: string;
  readonly prefixLen: number;
  /** IFA_F_* flags (IFA_F_PERMANENT = 0x80, IFA_F_DEPRECATED = 0x20, …). */
  readonly flags?: number;
  /** RT_SCOPE_* (0 universe/global, 253 link, 254 host). */
  readonly scope?: number;
}

export interface Route {
  readonly family: typeof AF_INET | typeof AF_INET6;
  /** Destination 'a.b.c.d/n'; undefined for the default route. */
  readonly dst?: string;
  readonly gateway?: string;
  /** Output device index (RTA_OIF). */
  readonly oif?: number;
  /** RTNH_F_ONLINK: the gateway is on the link even if no address says so. */
  readonly onlink?: boolean;
  /** Defaults: main table, RTPROT_BOOT, RTN_UNICAST, scope universe. */
  readonly table?: number;
  readonly protocol?: number;
  readonly type?: number;
  readonly scope?: number;
  /** Preferred source (RTA_PREFSRC). */
  readonly src?: string;
  readonly priority?: number;
}

export interface Neigh {
  readonly index: number;
  /** AF_INET for ARP entries; AF_BRIDGE for FDB entries. */
  readonly family: typeof AF_INET | typeof AF_INET6 | typeof AF_BRIDGE;
  /** NDA_DST: the IP for ARP entries; for FDB entries the remote VTEP address. */
  readonly ip?: string;
  /** NDA_LLADDR, lowercase. */
  readonly mac?: string;
  /** NUD_* */
  readonly state: number;
  /** NTF_* */
  readonly flags?: number;
}

/** What the monitor reports; `deleted` is true for RTM_DEL*. */
export type NetlinkChange =
  | { readonly kind: 'link'; readonly deleted: boolean; readonly link: Link }
  | { readonly kind: 'addr'; readonly deleted: boolean; readonly addr: Addr }
  | { readonly kind: 'route'; readonly deleted: boolean; readonly route: Route }
  | { readonly kind: 'neigh'; readonly deleted: boolean; readonly neigh: Neigh };

/**
 * Requests queued into one sendmsg (many messages, one ack each). `run()` sends them and
 * resolves with one entry per request, in order: null for success or the KernelError.
 */
export interface NetlinkBatch {
  linkAdd(spec: LinkSpec): this;
  linkDel(index: number): this;
  linkSet(index: number, change: LinkChange): this;
  addrAdd(a: Addr): this;
  addrReplace(a: Addr): this;
  addrDel(a: Addr): this;
  routeAdd(r: Route): this;
  routeReplace(r: Route): this;
  routeDel(r: Route): this;
  neighSet(n: Neigh): this;
  neighDel(n: Neigh): this;
  readonly size: number;
  run(): Promise<(import('./errors.ts').KernelError | null)[]>;
}

/**
 * A netlink route socket, optionally in another network namespace (tests). Single-request
 * methods throw a KernelError on failure; batch() collects per-request results.
 */
export interface NetlinkHandle {
  /** ip link show */
  linkList(): Promise<Link[]>;
  /** ip link show NAME; undefined when absent. */
  linkByName(name: string): Promise<Link | undefined>;
  linkByIndex(index: number): Promise<Link | undefined>;
  /** ip link add NAME type KIND … */
  linkAdd(spec: LinkSpec): Promise<void>;
  /** ip link del dev NAME */
  linkDel(index: number): Promise<void>;
  /** ip link set dev NAME up|down mtu N address MAC master M */
  linkSet(index: number, change: LinkChange): Promise<void>;
  /** ip addr show [dev NAME] */
  addrList(filter?: { index?: number; family?: number }): Promise<Addr[]>;
  /** ip addr add A/N dev NAME */
  addrAdd(a: Addr): Promise<void>;
  /** ip addr replace A/N dev NAME */
  addrReplace(a: Addr): Promise<void>;
  /** ip addr del A/N dev NAME */
  addrDel(a: Addr): Promise<void>;
  /** ip route show table all (filtered client-side by the given fields) */
  routeList(filter?: { family?: number; table?: number; oif?: number }): Promise<Route[]>;
  /** ip route get DST: the route(s) the kernel would use. */
  routeGet(dst: string): Promise<Route[]>;
  /** ip route add … */
  routeAdd(r: Route): Promise<void>;
  /** ip route replace … */
  routeReplace(r: Route): Promise<void>;
  /** ip route del … */
  routeDel(r: Route): Promise<void>;
  /** ip neigh show [dev] / bridge fdb show [dev] (family AF_BRIDGE) */
  neighList(filter: { family: number; index?: number }): Promise<Neigh[]>;
  /** ip neigh replace … / bridge fdb replace … self permanent */
  neighSet(n: Neigh): Promise<void>;
  /** ip neigh del … / bridge fdb del … */
  neighDel(n: Neigh): Promise<void>;
  /** Queue many requests for one sendmsg. */
  batch(): NetlinkBatch;
  close(): void;
}
