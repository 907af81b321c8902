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
 * Conventions as in netlink.c: a non-negative result or -errno, never a throw for a kernel
 * error; a TypeError for wrong JS arguments. An optional netns path (e.g. /run/netns/NAME) is
 * entered only around socket(): the socket keeps that namespace. */
#define _GNU_SOURCE
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
/* glibc's net/if.h before the linux/ headers: linux/libc-compat.h then skips its duplicates. */
#include <net/if.h>
#include <netinet/in.h>
#include <linux/ethtool.h>
#include <linux/icmp.h>
#include <linux/sockios.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define NC_THROW(msg)                          \
  do {                                         \
    napi_throw_type_error(env, NULL, msg);     \
    return NULL;                               \
  } while (0)

static napi_value nc_int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

/* Reads an optional netns path: a string (copied into buf) or null/undefined (returns 0). 
 * Returns 1 when a path was given, 0 when not, -1 after throwing. */
static int nc_netns_arg(napi_env env, napi_value v, char *buf, size_t size) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) return 0;
  size_t n = 0;
  if (t != napi_string || napi_get_value_string_utf8(env, v, buf, size, &n) != napi_ok || n == 0 || n >= size - 1) {
    napi_throw_type_error(env, NULL, "netnsPath must be a non-empty string or null");
    return -1;
  }
  return 1;
}

/* socket(domain, type, proto), inside `netns` when given. Returns the fd or -errno. */
static int nc_socket_in(const char *netns, int domain, int type, int proto) {
  int orig = -1, target = -1;
  if (netns != NULL) {
    orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (orig < 0) return -errno;
    target = open(netns, O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      int e = errno;
      close(orig);
      return -e;
    }
    if (setns(target, CLONE_NEWNET) != 0) {
      int e = errno;
      close(target);
      close(orig);
      return -e;
    }
  }
  int fd = socket(domain, type, proto);
  int err = fd < 0 ? errno : 0;
  if (netns != NULL) {
    /* Staying in the wrong namespace would move every later socket of this thread there. */
    if (setns(orig, CLONE_NEWNET) != 0) napi_fatal_error("nodecheck", NAPI_AUTO_LENGTH, "setns back to the original netns failed", NAPI_AUTO_LENGTH);
    close(target);
    close(orig);
  }
  return fd < 0 ? -err : fd;
}

static int nc_txcsum_ioctl(int fd, const char *ifname, uint32_t cmd, uint32_t *data) {
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
static napi_value ethtool_tx_csum(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) NC_THROW("ethtoolTxCsum(netnsPath, ifname, want)");
  char netns[4096];
  int has_ns = nc_netns_arg(env, argv[0], netns, sizeof netns);
  if (has_ns < 0) return NULL;
  char ifname[IFNAMSIZ + 1];
  size_t n = 0;
  if (napi_get_value_string_utf8(env, argv[1], ifname, sizeof ifname, &n) != napi_ok || n == 0 || n >= IFNAMSIZ) {
    NC_THROW("ethtoolTxCsum: ifname must be a device name of 1..15 bytes");
  }
  int32_t want;
  if (napi_get_value_int32(env, argv[2], &want) != napi_ok || want < -1 || want > 1) NC_THROW("ethtoolTxCsum: want must be -1, 0 or 1");

  int fd = nc_socket_in(has_ns ? netns : NULL, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nc_int(env, fd);
  uint32_t state = 0;
  int rc = nc_txcsum_ioctl(fd, ifname, ETHTOOL_GTXCSUM, &state);
  if (rc == 0 && want >= 0 && (state != 0) != (want != 0)) {
    uint32_t v = (uint32_t)want;
    rc = nc_txcsum_ioctl(fd, ifname, ETHTOOL_STXCSUM, &v);
    if (rc == 0) rc = nc_txcsum_ioctl(fd, ifname, ETHTOOL_GTXCSUM, &state);
  }
  close(fd);
  return nc_int(env, rc < 0 ? rc : (state != 0 ? 1 : 0));
}

/* icmpOpen(netnsPath: string | null) → fd | -errno
 * Non-blocking, close-on-exec. Path MTU discovery in probe mode: every packet carries DF and
 * is sent at the device MTU regardless of what the route cache learned, so a probe measures
 * the path instead of the cache. Only echo replies, destination-unreachable and
 * time-exceeded reach the socket (ICMP_FILTER), not every ICMP packet the node receives. */
static napi_value icmp_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char netns[4096];
  int has_ns = argc < 1 ? 0 : nc_netns_arg(env, argv[0], netns, sizeof netns);
  if (has_ns < 0) return NULL;
  int fd = nc_socket_in(has_ns ? netns : NULL, AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) return nc_int(env, fd);
  int pmtu = IP_PMTUDISC_PROBE;
  struct icmp_filter filter = {.data = ~((1U << ICMP_ECHOREPLY) | (1U << ICMP_DEST_UNREACH) | (1U << ICMP_TIME_EXCEEDED))};
  if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) != 0 ||
      setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof filter) != 0) {
    int e = errno;
    close(fd);
    return nc_int(env, -e);
  }
  return nc_int(env, fd);
}

/* icmpSend(fd, dst: uint32 (a.b.c.d as (a<<24)|…), packet: Buffer, len) → bytes | -errno
 * `packet` is the ICMP message; the kernel adds the IP header (DF set, see icmpOpen). */
static napi_value icmp_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) NC_THROW("icmpSend(fd, dst, packet, len)");
  int32_t fd, len;
  uint32_t dst;
  void *data;
  size_t size;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_uint32(env, argv[1], &dst) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &data, &size) != napi_ok || napi_get_value_int32(env, argv[3], &len) != napi_ok) {
    NC_THROW("icmpSend(fd: number, dst: number, packet: Buffer, len: number)");
  }
  if (len < 0 || (size_t)len > size) NC_THROW("icmpSend: len outside the buffer");
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(dst);
  ssize_t n = sendto(fd, data, (size_t)len, 0, (struct sockaddr *)&sa, sizeof sa);
  return nc_int(env, n < 0 ? -errno : (int32_t)n);
}

/* icmpRecv(fd, buf: Buffer) → bytes (the IP packet, header included) | 0 when none waits | -errno */
static napi_value icmp_recv(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) NC_THROW("icmpRecv(fd, buf)");
  int32_t fd;
  void *data;
  size_t size;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_buffer_info(env, argv[1], &data, &size) != napi_ok) {
    NC_THROW("icmpRecv(fd: number, buf: Buffer)");
  }
  ssize_t n = recv(fd, data, size, MSG_DONTWAIT);
  if (n < 0) return nc_int(env, (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno);
  return nc_int(env, (int32_t)n);
}

napi_value flannel_register_nodecheck(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"ethtoolTxCsum", NULL, ethtool_tx_csum, NULL, NULL, NULL, napi_default, NULL},
      {"icmpOpen", NULL, icmp_open, NULL, NULL, NULL, napi_default, NULL},
      {"icmpSend", NULL, icmp_send, NULL, NULL, NULL, napi_default, NULL},
      {"icmpRecv", NULL, icmp_recv, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
