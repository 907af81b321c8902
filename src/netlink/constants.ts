/**
 * rtnetlink constants (and the few of nfnetlink that the nf_tables generation needs), written by
 * hand and named exactly as in the kernel UAPI headers, so a grep in include/uapi/linux finds each one. Only what flannel-ts (its code and its tests) uses;
 * the rest of the UAPI is left out, so a constant here is one something reads.
 */

// ---- linux/socket.h, asm-generic/socket.h ----
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;

// ---- linux/netlink.h ----
export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;
export const SOL_NETLINK = 270;
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;

export const NLMSG_HDRLEN = 16;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x01;
export const NLM_F_ACK = 0x04;
export const NLM_F_DUMP_INTR = 0x10;
// Modifiers to GET requests
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
// Modifiers to NEW requests
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
// Flags for ACK messages
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

/** struct nlmsgerr: int error; struct nlmsghdr msg. */
export const NLMSGERR_LEN = 20;
export const NLMSGERR_ATTR_MSG = 1;

export const NLA_F_NESTED = 1 << 15;
export const NLA_F_NET_BYTEORDER = 1 << 14;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

// ---- linux/rtnetlink.h ----
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
export const RTM_NEWNEIGHTBL = 64;
export const RTM_GETNEIGHTBL = 66;

/** struct rtmsg */
export const RTMSG_LEN = 12;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;
export const RTA_MAX_USED = RTA_TABLE;

export const RTN_UNSPEC = 0;
export const RTN_UNICAST = 1;
export const RTN_BLACKHOLE = 6;

export const RTPROT_UNSPEC = 0;
export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;

export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_NOWHERE = 255;

export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_MAIN = 254;

export const RTNH_F_ONLINK = 4;

export const RTNLGRP_LINK = 1;
export const RTNLGRP_NEIGH = 3;
export const RTNLGRP_IPV4_IFADDR = 5;
export const RTNLGRP_IPV4_ROUTE = 7;
export const RTNLGRP_IPV6_IFADDR = 9;
export const RTNLGRP_IPV6_ROUTE = 11;

/** struct ifinfomsg */
export const IFINFOMSG_LEN = 16;
/** struct ifaddrmsg */
export const IFADDRMSG_LEN = 8;
/** struct ndmsg */
export const NDMSG_LEN = 12;

// ---- linux/if.h ----
export const IFF_UP = 0x1;
export const IFF_LOWER_UP = 0x10000;

// ---- linux/if_link.h ----
export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_TXQLEN = 13;
export const IFLA_MASTER = 10;
export const IFLA_LINKINFO = 18;
export const IFLA_NET_NS_FD = 28;
export const IFLA_MAX_USED = 64;

export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;

export const IFLA_VXLAN_ID = 1;
export const IFLA_VXLAN_LINK = 3;
export const IFLA_VXLAN_LOCAL = 4;
export const IFLA_VXLAN_LEARNING = 7;
/** u16 in network byte order. */
export const IFLA_VXLAN_PORT = 15;
/** The IPv6 source address of a VXLAN-over-IPv6 device (IFLA_VXLAN_LOCAL is IPv4 only). */
export const IFLA_VXLAN_LOCAL6 = 17;
/** NLA_FLAG: present means on. */
export const IFLA_VXLAN_GBP = 23;
export const IFLA_VXLAN_MAX_USED = 32;

// ---- linux/veth.h ----
export const VETH_INFO_PEER = 1;

// ---- linux/neighbour.h ----
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NDA_IFINDEX = 8;
export const NDA_MAX_USED = 16;

export const NTF_SELF = 0x02;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;

/** struct ndtmsg (RTM_*NEIGHTBL): family, two bytes of padding; and its table attributes. */
export const NDTMSG_LEN = 4;
export const NDTA_NAME = 1;
export const NDTA_THRESH1 = 2;
export const NDTA_THRESH2 = 3;
export const NDTA_THRESH3 = 4;

// ---- linux/if_addr.h ----
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
/** u32 flags; supersedes ifa_flags (u8) when present. */
export const IFA_FLAGS = 8;
export const IFA_MAX_USED = 12;

/** The same bit is IFA_F_TEMPORARY for IPv6. */
export const IFA_F_SECONDARY = 0x01;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_PERMANENT = 0x80;

/** Names for error messages: 'RTM_NEWROUTE' rather than 24. */
export const RTM_NAMES: Readonly<Record<number, string>> = {
  [RTM_NEWLINK]: 'RTM_NEWLINK', [RTM_DELLINK]: 'RTM_DELLINK', [RTM_GETLINK]: 'RTM_GETLINK', [RTM_SETLINK]: 'RTM_SETLINK',
  [RTM_NEWADDR]: 'RTM_NEWADDR', [RTM_DELADDR]: 'RTM_DELADDR', [RTM_GETADDR]: 'RTM_GETADDR',
  [RTM_NEWROUTE]: 'RTM_NEWROUTE', [RTM_DELROUTE]: 'RTM_DELROUTE', [RTM_GETROUTE]: 'RTM_GETROUTE',
  [RTM_NEWNEIGH]: 'RTM_NEWNEIGH', [RTM_DELNEIGH]: 'RTM_DELNEIGH', [RTM_GETNEIGH]: 'RTM_GETNEIGH',
  [RTM_NEWNEIGHTBL]: 'RTM_NEWNEIGHTBL', [RTM_GETNEIGHTBL]: 'RTM_GETNEIGHTBL',
};

// ---- linux/netfilter/nfnetlink.h, linux/netfilter/nf_tables.h ----
export const NFNETLINK_V0 = 0;
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFT_MSG_GETGEN = 16;
export const NFT_MSG_NEWGEN = 15;
export const NFTA_GEN_ID = 1;
