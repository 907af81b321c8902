/* Two small kernel calls for the node doctor and the daemon's peer health, kept apart from
 * the netlink and datapath code:
 *
 *  - ethtoolTxCsum: read or set tx checksum offload of one device through the legacy ethtool
 *    ioctl (SIOCETHTOOL with ETHTOOL_GTXCSUM / ETHTOOL_STXCSUM). On a vxlan device the only
 *    checksum feature is NETIF_F_HW_CSUM, so this is exactly `ethtool -K flannel.1
 *    tx-checksum-ip-generic off|on` (the kernel drops TSO with it, as ethtool does). The
 *    ioctl works on every kernel flannel runs on, including the ones older than 5.7 whose
 *    VXLAN checksum bug this exists for; the ethtool netlink API is younger than some of them.
 *
 *  - icmpOpen / icmpSend / icmpRecv: a raw ICMP socket for echo probes through the overlay.
 *    The image has no ping, and ICMP datagram ("ping") sockets need net.ipv4.ping_group_range,
 *    which is closed by default; the DaemonSet grants NET_RAW. Packets are built and parsed in
 *    TypeScript (src/probe/packet.ts); readiness comes from the datapath's pollStart.
 *
 *  - icmp6Open / icmp6Send / icmp6Recv: the same for IPv6 peers over a raw ICMPv6 socket. The
 *    kernel fills the ICMPv6 checksum itself (RFC 3542) and passes the sender's address beside
 *    the message, so icmp6Recv copies it out (src/probe/packet6.ts parses the rest).
 *
 * Conventions as in netlink.c: a non-negative result or -errno, never a throw for a kernel
 * error; a TypeError naming the argument for wrong JS arguments (args.c). An optional netns path
 * (e.g. /run/netns/NAME) is entered only around socket() (netns.c). */
#define _GNU_SOURCE
#include "addon.h"

#include <errno.h>
/* glibc's net/if.h before the linux/ headers: linux/libc-compat.h then skips its duplicates. */
#include <net/if.h>
#include <netinet/in.h>
#include <linux/ethtool.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <linux/sockios.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int txcsum_ioctl(int fd, const char *ifname, uint32_t cmd, uint32_t *data) {
  struct ethtool_value ev = {.cmd = cmd, .data = *data};
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  /* ifname is checked to be shorter than IFNAMSIZ; memset left the terminator. */
  memcpy(ifr.ifr_name, ifname, strnlen(ifname, IFNAMSIZ - 1));
  ifr.ifr_data = (void *)&ev;
  if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) return -errno;
  *data = ev.data;
  return 0;
}

/* ethtoolTxCsum(netnsPath: string | null, ifname: string, want: -1 | 0 | 1) → 0 | 1 | -errno
 * want -1 only reads. Returns the state the kernel reports afterwards (1 = on). */
napi_value ethtool_tx_csum(napi_env env, napi_callback_info info) {
  flannel_args a;
  char netns[4096], ifname[IFNAMSIZ + 1];
  size_t netns_len, ifname_len;
  int32_t want;
  if (!args_get(&a, env, info, "ethtoolTxCsum", 3) || !arg_string(&a, 0, "netnsPath", true, netns, sizeof netns, &netns_len) ||
      !arg_string(&a, 1, "ifname", false, ifname, sizeof ifname, &ifname_len) || !arg_i32(&a, 2, "want", &want))
    return NULL;
  if (want < -1 || want > 1) return arg_invalid(&a, "want", "must be -1, 0 or 1");

  int fd = socket_in_netns(netns, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return flannel_int(env, fd);
  uint32_t state = 0;
  int rc = txcsum_ioctl(fd, ifname, ETHTOOL_GTXCSUM, &state);
  if (rc == 0 && want >= 0 && (state != 0) != (want != 0)) {
    uint32_t v = (uint32_t)want;
    rc = txcsum_ioctl(fd, ifname, ETHTOOL_STXCSUM, &v);
    if (rc == 0) rc = txcsum_ioctl(fd, ifname, ETHTOOL_GTXCSUM, &state);
  }
  close(fd);
  return flannel_int(env, rc < 0 ? rc : (state != 0 ? 1 : 0));
}

/* The fd of a socket whose options were all set (`ok`), else -errno of the failed setsockopt,
 * the socket closed. */
static napi_value opened(napi_env env, int fd, bool ok) {
  if (ok) return flannel_int(env, fd);
  int err = errno;
  close(fd);
  return flannel_int(env, -err);
}

/* icmpOpen(netnsPath: string | null) → fd | -errno
 * Non-blocking, close-on-exec. Path MTU discovery in probe mode: every packet carries DF and
 * is sent at the device MTU regardless of what the route cache learned, so a probe measures
 * the path instead of the cache. Only echo replies, destination-unreachable and
 * time-exceeded reach the socket (ICMP_FILTER), not every ICMP packet the node receives. */
napi_value icmp_open(napi_env env, napi_callback_info info) {
  flannel_args a;
  char netns[4096];
  size_t netns_len;
  if (!args_get(&a, env, info, "icmpOpen", 0) || !arg_string(&a, 0, "netnsPath", true, netns, sizeof netns, &netns_len)) return NULL;
  int fd = socket_in_netns(netns, AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) return flannel_int(env, fd);
  int pmtu = IP_PMTUDISC_PROBE;
  struct icmp_filter filter = {.data = ~((1U << ICMP_ECHOREPLY) | (1U << ICMP_DEST_UNREACH) | (1U << ICMP_TIME_EXCEEDED))};
  return opened(env, fd, setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) == 0 && setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof filter) == 0);
}

/* icmpSend(fd, dst: uint32 (a.b.c.d as (a<<24)|…), packet: Buffer, len) → bytes | -errno
 * `packet` is the ICMP message; the kernel adds the IP header (DF set, see icmpOpen). */
napi_value icmp_send(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd, len;
  uint32_t dst;
  uint8_t *data;
  size_t size;
  if (!args_get(&a, env, info, "icmpSend", 4) || !arg_i32(&a, 0, "fd", &fd) || !arg_u32(&a, 1, "dst", &dst) ||
      !arg_buffer(&a, 2, "packet", &data, &size) || !arg_i32(&a, 3, "len", &len))
    return NULL;
  if (len < 0 || (size_t)len > size) return arg_invalid(&a, "len", "is outside the buffer");
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(dst);
  ssize_t n = sendto(fd, data, (size_t)len, 0, (struct sockaddr *)&sa, sizeof sa);
  return flannel_int(env, n < 0 ? -errno : n);
}

/* icmpRecv(fd, buf: Buffer) → bytes (the IP packet, header included) | 0 when none waits | -errno */
napi_value icmp_recv(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd;
  uint8_t *data;
  size_t size;
  if (!args_get(&a, env, info, "icmpRecv", 2) || !arg_i32(&a, 0, "fd", &fd) || !arg_buffer(&a, 1, "buf", &data, &size)) return NULL;
  ssize_t n = recv(fd, data, size, MSG_DONTWAIT);
  if (n < 0) return flannel_int(env, (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno);
  return flannel_int(env, n);
}

/* icmp6Open(netnsPath: string | null) → fd | -errno
 * As icmpOpen for IPv6: non-blocking, close-on-exec; IPV6_DONTFRAG so a probe larger than the
 * route's MTU fails with EMSGSIZE instead of leaving in fragments, PMTU probe mode so the route
 * cache does not shrink what is sent; only echo replies, destination-unreachable, packet-too-big
 * and time-exceeded reach the socket (ICMP6_FILTER). */
napi_value icmp6_open(napi_env env, napi_callback_info info) {
  flannel_args a;
  char netns[4096];
  size_t netns_len;
  if (!args_get(&a, env, info, "icmp6Open", 0) || !arg_string(&a, 0, "netnsPath", true, netns, sizeof netns, &netns_len)) return NULL;
  int fd = socket_in_netns(netns, AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) return flannel_int(env, fd);
  int pmtu = IPV6_PMTUDISC_PROBE, dontfrag = 1;
  struct icmp6_filter filter;
  ICMP6_FILTER_SETBLOCKALL(&filter);
  ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
  ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &filter);
  ICMP6_FILTER_SETPASS(ICMP6_PACKET_TOO_BIG, &filter);
  ICMP6_FILTER_SETPASS(ICMP6_TIME_EXCEEDED, &filter);
  return opened(env, fd,
                setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu) == 0 &&
                    setsockopt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, &dontfrag, sizeof dontfrag) == 0 &&
                    setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) == 0);
}

/* icmp6Send(fd, dst: Buffer (16 bytes, the IPv6 address), packet: Buffer, len) → bytes | -errno */
napi_value icmp6_send(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd, len;
  uint8_t *dst, *data;
  size_t dst_size, size;
  if (!args_get(&a, env, info, "icmp6Send", 4) || !arg_i32(&a, 0, "fd", &fd) || !arg_buffer(&a, 1, "dst", &dst, &dst_size) ||
      !arg_buffer(&a, 2, "packet", &data, &size) || !arg_i32(&a, 3, "len", &len))
    return NULL;
  if (dst_size != 16) return arg_invalid(&a, "dst", "must be 16 bytes");
  if (len < 0 || (size_t)len > size) return arg_invalid(&a, "len", "is outside the buffer");
  struct sockaddr_in6 sa;
  memset(&sa, 0, sizeof sa);
  sa.sin6_family = AF_INET6;
  memcpy(&sa.sin6_addr, dst, 16);
  ssize_t n = sendto(fd, data, (size_t)len, 0, (struct sockaddr *)&sa, sizeof sa);
  return flannel_int(env, n < 0 ? -errno : n);
}

/* icmp6Recv(fd, buf: Buffer, from: Buffer (16 bytes)) → bytes (the ICMPv6 message) | 0 when none waits | -errno
 * The sender's address goes to `from`. */
napi_value icmp6_recv(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd;
  uint8_t *data, *from;
  size_t size, from_size;
  if (!args_get(&a, env, info, "icmp6Recv", 3) || !arg_i32(&a, 0, "fd", &fd) || !arg_buffer(&a, 1, "buf", &data, &size) ||
      !arg_buffer(&a, 2, "from", &from, &from_size))
    return NULL;
  if (from_size != 16) return arg_invalid(&a, "from", "must be 16 bytes");
  struct sockaddr_in6 sa;
  socklen_t sa_len = sizeof sa;
  memset(&sa, 0, sizeof sa);
  ssize_t n = recvfrom(fd, data, size, MSG_DONTWAIT, (struct sockaddr *)&sa, &sa_len);
  if (n < 0) return flannel_int(env, (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno);
  memcpy(from, &sa.sin6_addr, 16);
  return flannel_int(env, n);
}
