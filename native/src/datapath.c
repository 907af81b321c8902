/* Datapath syscalls for the udp backend: TUN open/read/write, UDP socket with
 * recvmmsg/sendmmsg (+ UDP GRO/GSO). Readiness is in poll.c.
 *
 * Only what Node has no API for lives here. Packet logic (validation, TTL, routing,
 * segmentation, coalescing) is in src/backends/udp/ (TypeScript). Every batch call returns a count
 * (0 when the fd would block) or -errno; none throws on EAGAIN. Setup calls (tunOpen,
 * tunSetOffload, tunSetPersist, udpOpen) throw the addon's NativeError; wrong arguments throw
 * a TypeError (addon.h).
 *
 * The batch arrays below are static: all calls come from the one JS thread that loaded
 * the addon (the main thread of the daemon).
 */
#define _GNU_SOURCE
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sched.h>
#include <unistd.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* Messages per recvmmsg/sendmmsg. 64 keeps the static arrays small and is well past the
 * point where the per-syscall cost stops mattering next to the per-packet cost. */
#define MAX_BATCH 64

#define CHECK(call)                                                                  \
  do {                                                                               \
    if ((call) != napi_ok) {                                                         \
      napi_throw_error(env, NULL, "datapath: N-API call failed: " #call);            \
      return NULL;                                                                   \
    }                                                                                \
  } while (0)

/* tunOpen(name: string, vnetHdr: boolean) → { fd, name }
 * `name` may be a template such as "flannel%d"; the kernel picks the number. The fd is
 * non-blocking and close-on-exec. With vnetHdr each packet is preceded by a 10-byte
 * struct virtio_net_hdr in both directions. */
napi_value tun_open(napi_env env, napi_callback_info info) {
  flannel_args a;
  char name[IFNAMSIZ + 1];
  size_t nlen;
  bool vnet;
  if (!args_get(&a, env, info, "tunOpen", 2) || !arg_string(&a, 0, "name", false, name, sizeof name, &nlen) ||
      !arg_bool(&a, 1, "vnetHdr", &vnet))
    return NULL;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return flannel_throw_errno(env, errno, "open", "/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, nlen);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return flannel_throw_errno(env, err, "TUNSETIFF", name);
  }
  napi_value r, vfd, vname;
  CHECK(napi_create_object(env, &r));
  CHECK(napi_create_int32(env, fd, &vfd));
  CHECK(napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &vname));
  CHECK(napi_set_named_property(env, r, "fd", vfd));
  CHECK(napi_set_named_property(env, r, "name", vname));
  return r;
}

/* One TUN ioctl with an integer argument; throws on failure. */
static napi_value tun_ioctl(napi_env env, napi_callback_info info, const char *fn, unsigned long req, const char *op, const char *arg) {
  flannel_args a;
  int32_t fd;
  uint32_t value;
  if (!args_get(&a, env, info, fn, 2) || !arg_i32(&a, 0, "fd", &fd) || !arg_u32(&a, 1, arg, &value)) return NULL;
  if (ioctl(fd, req, (unsigned long)value) < 0) {
    char target[32];
    snprintf(target, sizeof target, "fd %d", fd);
    return flannel_throw_errno(env, errno, op, target);
  }
  return NULL;
}

/* tunSetOffload(fd, flags: TUN_F_*) */
napi_value tun_set_offload(napi_env env, napi_callback_info info) {
  return tun_ioctl(env, info, "tunSetOffload", TUNSETOFFLOAD, "TUNSETOFFLOAD", "flags");
}

/* tunSetPersist(fd, on: 0 | 1). A persistent device outlives the fd (restarts). */
napi_value tun_set_persist(napi_env env, napi_callback_info info) {
  return tun_ioctl(env, info, "tunSetPersist", TUNSETPERSIST, "TUNSETPERSIST", "on");
}

/* tunRead(fd, slab, slotSize, lens: Int32Array, maxSlots) → n | -errno
 * Reads one packet per slot (slot i at i*slotSize) until EAGAIN or maxSlots. An error
 * after some packets were read returns the count; the error shows on the next call. */
napi_value tun_read(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd, slot, max;
  uint8_t *slab;
  size_t slab_len, nlens;
  int32_t *lens;
  if (!args_get(&a, env, info, "tunRead", 5) || !arg_i32(&a, 0, "fd", &fd) || !arg_buffer(&a, 1, "slab", &slab, &slab_len) ||
      !arg_i32(&a, 2, "slotSize", &slot) || !arg_array32(&a, 3, "lens", (void **)&lens, &nlens) || !arg_i32(&a, 4, "maxSlots", &max))
    return NULL;
  if (slot <= 0 || max < 0 || (size_t)max > nlens || (size_t)max * (size_t)slot > slab_len)
    return arg_invalid(&a, "maxSlots", "needs more room than slab or lens has");
  int n = 0;
  while (n < max) {
    ssize_t r = read(fd, slab + (size_t)n * slot, slot);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || n > 0) break;
      return flannel_int(env, -errno);
    }
    lens[n++] = (int32_t)r;
  }
  return flannel_int(env, n);
}

/* tunWrite(fd, slab, offs: Int32Array, lens: Int32Array, n) → packets written | -errno
 * One write per packet (a TUN write is exactly one packet). A packet the kernel refuses
 * (EINVAL, …) is skipped; EAGAIN stops the batch. -errno only when nothing was written. */
napi_value tun_write(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd, n;
  uint8_t *slab;
  size_t slab_len, noffs, nlens;
  int32_t *offs, *lens;
  if (!args_get(&a, env, info, "tunWrite", 5) || !arg_i32(&a, 0, "fd", &fd) || !arg_buffer(&a, 1, "slab", &slab, &slab_len) ||
      !arg_array32(&a, 2, "offs", (void **)&offs, &noffs) || !arg_array32(&a, 3, "lens", (void **)&lens, &nlens) ||
      !arg_i32(&a, 4, "n", &n))
    return NULL;
  if (n < 0 || (size_t)n > noffs || (size_t)n > nlens) return arg_invalid(&a, "n", "exceeds offs or lens");
  int written = 0, last_err = 0;
  for (int i = 0; i < n; i++) {
    if (offs[i] < 0 || lens[i] < 0 || (size_t)offs[i] + (size_t)lens[i] > slab_len) return arg_invalid(&a, "offs", "points a packet outside slab");
    ssize_t r;
    do r = write(fd, slab + offs[i], lens[i]); while (r < 0 && errno == EINTR);
    if (r >= 0) { written++; continue; }
    last_err = errno;
    if (errno == EAGAIN) break;
  }
  return flannel_int(env, written == 0 && last_err != 0 ? -last_err : written);
}

/* udpOpen(addr: uint32 host order, port, bufBytes, wantGro, wantGso)
 *   → { fd, gro, gso, rcvbuf, sndbuf }
 * Binds a non-blocking UDP socket. Buffers use the *FORCE options first (root may exceed
 * net.core.rmem_max), then the plain ones. GRO and GSO are probed by setting them. */
napi_value udp_open(napi_env env, napi_callback_info info) {
  flannel_args a;
  uint32_t addr, port, buf;
  bool want_gro, want_gso;
  if (!args_get(&a, env, info, "udpOpen", 5) || !arg_u32(&a, 0, "addr", &addr) || !arg_u32(&a, 1, "port", &port) ||
      !arg_u32(&a, 2, "bufBytes", &buf) || !arg_bool(&a, 3, "wantGro", &want_gro) || !arg_bool(&a, 4, "wantGso", &want_gso))
    return NULL;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return flannel_throw_errno(env, errno, "socket", "AF_INET SOCK_DGRAM");
  int b = (int)buf;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &b, sizeof b) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &b, sizeof b);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &b, sizeof b) < 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &b, sizeof b);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(addr);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int err = errno;
    close(fd);
    char target[32];
    snprintf(target, sizeof target, "%u.%u.%u.%u:%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff, port);
    return flannel_throw_errno(env, err, "bind", target);
  }
  int one = 1, zero = 0;
  bool gro = want_gro && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  /* Setting UDP_SEGMENT to 0 is a no-op that fails with ENOPROTOOPT on kernels without GSO. */
  bool gso = want_gso && setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0;
  int rcv = 0, snd = 0;
  socklen_t sl = sizeof rcv;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &sl);
  sl = sizeof snd;
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, &sl);
  napi_value r, v;
  CHECK(napi_create_object(env, &r));
  CHECK(napi_create_int32(env, fd, &v));
  CHECK(napi_set_named_property(env, r, "fd", v));
  CHECK(napi_get_boolean(env, gro, &v));
  CHECK(napi_set_named_property(env, r, "gro", v));
  CHECK(napi_get_boolean(env, gso, &v));
  CHECK(napi_set_named_property(env, r, "gso", v));
  CHECK(napi_create_int32(env, rcv, &v));
  CHECK(napi_set_named_property(env, r, "rcvbuf", v));
  CHECK(napi_create_int32(env, snd, &v));
  CHECK(napi_set_named_property(env, r, "sndbuf", v));
  return r;
}

/* udpRecv(fd, slab, slotSize, lens: Int32Array, src: Uint32Array, seg: Int32Array, maxSlots)
 *   → n | -errno
 * recvmmsg into slots. src[i] = sender IPv4 (host order). seg[i] = the GRO segment size
 * when the kernel coalesced several datagrams into slot i, else 0. A datagram larger than
 * its slot gets lens[i] = -1 (truncated). */
napi_value udp_recv(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd, slot, max;
  uint8_t *slab;
  size_t slab_len, nlens, nsrc, nseg;
  int32_t *lens, *seg;
  uint32_t *src;
  if (!args_get(&a, env, info, "udpRecv", 7) || !arg_i32(&a, 0, "fd", &fd) || !arg_buffer(&a, 1, "slab", &slab, &slab_len) ||
      !arg_i32(&a, 2, "slotSize", &slot) || !arg_array32(&a, 3, "lens", (void **)&lens, &nlens) ||
      !arg_array32(&a, 4, "src", (void **)&src, &nsrc) || !arg_array32(&a, 5, "seg", (void **)&seg, &nseg) ||
      !arg_i32(&a, 6, "maxSlots", &max))
    return NULL;
  if (max > MAX_BATCH) max = MAX_BATCH;
  if (slot <= 0 || max < 0 || (size_t)max > nlens || (size_t)max > nsrc || (size_t)max > nseg ||
      (size_t)max * (size_t)slot > slab_len)
    return arg_invalid(&a, "maxSlots", "needs more room than slab or the arrays have");
  static struct mmsghdr msgs[MAX_BATCH];
  static struct iovec iov[MAX_BATCH];
  static struct sockaddr_in addrs[MAX_BATCH];
  static union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } cms[MAX_BATCH];
  for (int i = 0; i < max; i++) {
    iov[i].iov_base = slab + (size_t)i * slot;
    iov[i].iov_len = slot;
    memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
    msgs[i].msg_hdr.msg_name = &addrs[i];
    msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = cms[i].buf;
    msgs[i].msg_hdr.msg_controllen = sizeof cms[i].buf;
  }
  int n;
  do n = recvmmsg(fd, msgs, max, MSG_DONTWAIT, NULL); while (n < 0 && errno == EINTR);
  if (n < 0) return flannel_int(env, errno == EAGAIN ? 0 : -errno);
  for (int i = 0; i < n; i++) {
    struct msghdr *h = &msgs[i].msg_hdr;
    lens[i] = (h->msg_flags & MSG_TRUNC) ? -1 : (int32_t)msgs[i].msg_len;
    src[i] = ntohl(addrs[i].sin_addr.s_addr);
    seg[i] = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int g;
        memcpy(&g, CMSG_DATA(c), sizeof g);
        seg[i] = g;
      }
    }
  }
  return flannel_int(env, n);
}

/* udpSend(fd, slab, offs: Int32Array, lens: Int32Array, dst: Uint32Array, seg: Int32Array, n, port)
 *   → messages sent | -errno
 * sendmmsg, message i = slab[offs[i] .. +lens[i]] to dst[i]:port. seg[i] > 0 asks the
 * kernel to cut message i into datagrams of seg[i] bytes (UDP_SEGMENT); 0 sends it whole.
 * A message the kernel refuses is skipped; EAGAIN stops. -errno only when nothing went. */
napi_value udp_send(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd, n, port;
  uint8_t *slab;
  size_t slab_len, noffs, nlens, ndst, nseg;
  int32_t *offs, *lens, *seg;
  uint32_t *dst;
  if (!args_get(&a, env, info, "udpSend", 8) || !arg_i32(&a, 0, "fd", &fd) || !arg_buffer(&a, 1, "slab", &slab, &slab_len) ||
      !arg_array32(&a, 2, "offs", (void **)&offs, &noffs) || !arg_array32(&a, 3, "lens", (void **)&lens, &nlens) ||
      !arg_array32(&a, 4, "dst", (void **)&dst, &ndst) || !arg_array32(&a, 5, "seg", (void **)&seg, &nseg) ||
      !arg_i32(&a, 6, "n", &n) || !arg_i32(&a, 7, "port", &port))
    return NULL;
  if (n < 0 || (size_t)n > noffs || (size_t)n > nlens || (size_t)n > ndst || (size_t)n > nseg)
    return arg_invalid(&a, "n", "exceeds the arrays");
  static struct mmsghdr msgs[MAX_BATCH];
  static struct iovec iov[MAX_BATCH];
  static struct sockaddr_in addrs[MAX_BATCH];
  static union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } cms[MAX_BATCH];
  int sent = 0, last_err = 0, done = 0;
  while (done < n) {
    int m = n - done > MAX_BATCH ? MAX_BATCH : n - done;
    for (int k = 0; k < m; k++) {
      int i = done + k;
      if (offs[i] < 0 || lens[i] < 0 || (size_t)offs[i] + (size_t)lens[i] > slab_len)
        return arg_invalid(&a, "offs", "points a message outside slab");
      iov[k].iov_base = slab + offs[i];
      iov[k].iov_len = lens[i];
      memset(&addrs[k], 0, sizeof addrs[k]);
      addrs[k].sin_family = AF_INET;
      addrs[k].sin_port = htons((uint16_t)port);
      addrs[k].sin_addr.s_addr = htonl(dst[i]);
      struct msghdr *h = &msgs[k].msg_hdr;
      memset(h, 0, sizeof *h);
      h->msg_name = &addrs[k];
      h->msg_namelen = sizeof addrs[k];
      h->msg_iov = &iov[k];
      h->msg_iovlen = 1;
      if (seg[i] > 0) {
        h->msg_control = cms[k].buf;
        h->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t s = (uint16_t)seg[i];
        memcpy(CMSG_DATA(c), &s, sizeof s);
      }
    }
    int r;
    do r = sendmmsg(fd, msgs, m, MSG_DONTWAIT); while (r < 0 && errno == EINTR);
    if (r < 0) {
      last_err = errno;
      if (errno == EAGAIN || errno == ENOBUFS) break;
      done++; /* the first message was refused (EMSGSIZE, ENETUNREACH, EIO…): skip it */
      continue;
    }
    sent += r;
    done += r;
  }
  return flannel_int(env, sent == 0 && last_err != 0 ? -last_err : sent);
}

/* csum(buf, off, len, initial) → the ones'-complement sum of buf[off..off+len) added to
 * `initial` (a folded 16-bit sum), folded to 16 bits and not complemented. The TS
 * segmenter uses it for L4 checksums of MTU-sized segments, where a JS byte loop costs
 * more than the call (bench/udp-throughput.ts). */
napi_value csum(napi_env env, napi_callback_info info) {
  flannel_args a;
  uint8_t *buf;
  size_t blen;
  int32_t off, len;
  uint32_t initial;
  if (!args_get(&a, env, info, "csum", 4) || !arg_buffer(&a, 0, "buf", &buf, &blen) || !arg_i32(&a, 1, "off", &off) ||
      !arg_i32(&a, 2, "len", &len) || !arg_u32(&a, 3, "initial", &initial))
    return NULL;
  if (off < 0 || len < 0 || (size_t)off + (size_t)len > blen) return arg_invalid(&a, "len", "runs outside buf");
  /* 32-bit words in host order into a 64-bit accumulator, folded and byte-swapped at the
   * end (RFC 1071: the ones'-complement sum is byte-order independent). Four times fewer
   * iterations than a loop over big-endian 16-bit words: this is most of the segmenter's
   * per-byte cost (bench/udp-tcpdiag.ts: forwarder user time). */
  const uint8_t *p = buf + off;
  uint64_t sum = 0;
  int32_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    sum += (w & 0xffffffffu) + (w >> 32);
  }
  if (i < len) { /* i is even here: the tail keeps its 16-bit word boundaries */
    uint64_t w = 0;
    memcpy(&w, p + i, (size_t)(len - i));
    sum += (w & 0xffffffffu) + (w >> 32);
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  sum = ((sum & 0xff) << 8) | (sum >> 8);
#endif
  sum += initial;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return flannel_int(env, (int64_t)sum);
}

/* closeFd(fd) → 0 | -errno */
napi_value close_fd(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd;
  if (!args_get(&a, env, info, "closeFd", 1) || !arg_i32(&a, 0, "fd", &fd)) return NULL;
  return flannel_int(env, close(fd) < 0 ? -errno : 0);
}

/* schedYield() → 0 | -errno */
napi_value sched_yield_(napi_env env, napi_callback_info info) {
  (void)info;
  return flannel_int(env, sched_yield() < 0 ? -errno : 0);
}
