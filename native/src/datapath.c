/* Datapath syscalls for the udp backend: TUN open/read/write, UDP socket with
 * recvmmsg/sendmmsg (+ UDP GRO/GSO), and uv_poll readiness with a JS callback.
 *
 * Only what Node has no API for lives here. Packet logic (validation, TTL, routing,
 * segmentation, coalescing) is in src/backends/udp/ (TypeScript). Every batch call returns a count
 * (0 when the fd would block) or -errno; none throws on EAGAIN. Argument mistakes are
 * programming errors and throw TypeError. Setup calls (tunOpen, udpOpen) throw an Error
 * carrying `code` and `errno`.
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
#include <uv.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* Messages per recvmmsg/sendmmsg. 64 keeps the stack arrays small and is well past the
 * point where per-syscall cost stops mattering (DESIGN.md measurements). */
#define MAX_BATCH 64

#define CHECK(call)                                                                  \
  do {                                                                               \
    if ((call) != napi_ok) {                                                         \
      napi_throw_error(env, NULL, "datapath: N-API call failed: " #call);            \
      return NULL;                                                                   \
    }                                                                                \
  } while (0)

static napi_value make_int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, e, code, no;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  /* Node-style code (EPERM, EBUSY, …) for callers that branch on it. */
  const char *name = uv_err_name(-err);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, e, "code", code);
  napi_create_int32(env, err, &no);
  napi_set_named_property(env, e, "errno", no);
  napi_throw(env, e);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "datapath: too few arguments");
    return -1;
  }
  return 0;
}

static int get_i32(napi_env env, napi_value v, int32_t *out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "datapath: expected a number");
    return -1;
  }
  return 0;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "datapath: expected a number");
    return -1;
  }
  return 0;
}

static int get_buf(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  void *d;
  if (napi_get_buffer_info(env, v, &d, len) != napi_ok) {
    napi_throw_type_error(env, NULL, "datapath: expected a Buffer");
    return -1;
  }
  *data = d;
  return 0;
}

/* A typed array of 32-bit elements (Int32Array or Uint32Array); len is in elements. */
static int get_arr32(napi_env env, napi_value v, void **data, size_t *len) {
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok ||
      (t != napi_int32_array && t != napi_uint32_array)) {
    napi_throw_type_error(env, NULL, "datapath: expected an Int32Array or Uint32Array");
    return -1;
  }
  return 0;
}

/* tunOpen(name: string, vnetHdr: boolean) → { fd, name }
 * `name` may be a template such as "flannel%d"; the kernel picks the number. The fd is
 * non-blocking and close-on-exec. With vnetHdr each packet is preceded by a 10-byte
 * struct virtio_net_hdr in both directions. */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv)) return NULL;
  char name[IFNAMSIZ + 1];
  size_t nlen;
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok || nlen >= IFNAMSIZ) {
    napi_throw_type_error(env, NULL, "tunOpen: name must be a string shorter than 16 bytes");
    return NULL;
  }
  bool vnet;
  CHECK(napi_get_value_bool(env, argv[1], &vnet));
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "tunOpen: open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, nlen);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "tunOpen: TUNSETIFF", err);
  }
  napi_value r, vfd, vname;
  CHECK(napi_create_object(env, &r));
  CHECK(napi_create_int32(env, fd, &vfd));
  CHECK(napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &vname));
  CHECK(napi_set_named_property(env, r, "fd", vfd));
  CHECK(napi_set_named_property(env, r, "name", vname));
  return r;
}

/* tunSetOffload(fd, flags: TUN_F_*) → 0 | -errno */
static napi_value tun_set_offload(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  uint32_t flags;
  if (get_args(env, info, 2, argv) || get_i32(env, argv[0], &fd) || get_u32(env, argv[1], &flags)) return NULL;
  return make_int(env, ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0);
}

/* tunSetPersist(fd, on) → 0 | -errno. A persistent device outlives the fd (restarts). */
static napi_value tun_set_persist(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, on;
  if (get_args(env, info, 2, argv) || get_i32(env, argv[0], &fd) || get_i32(env, argv[1], &on)) return NULL;
  return make_int(env, ioctl(fd, TUNSETPERSIST, (unsigned long)(on ? 1 : 0)) < 0 ? -errno : 0);
}

/* tunRead(fd, slab, slotSize, lens: Int32Array, maxSlots) → n | -errno
 * Reads one packet per slot (slot i at i*slotSize) until EAGAIN or maxSlots. An error
 * after some packets were read returns the count; the error shows on the next call. */
static napi_value tun_read(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t fd, slot, max;
  uint8_t *slab;
  size_t slab_len, nlens;
  int32_t *lens;
  if (get_args(env, info, 5, argv) || get_i32(env, argv[0], &fd) || get_buf(env, argv[1], &slab, &slab_len) ||
      get_i32(env, argv[2], &slot) || get_arr32(env, argv[3], (void **)&lens, &nlens) || get_i32(env, argv[4], &max))
    return NULL;
  if (slot <= 0 || max < 0 || (size_t)max > nlens || (size_t)max * (size_t)slot > slab_len) {
    napi_throw_range_error(env, NULL, "tunRead: slab or lens too small for maxSlots");
    return NULL;
  }
  int n = 0;
  while (n < max) {
    ssize_t r = read(fd, slab + (size_t)n * slot, slot);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || n > 0) break;
      return make_int(env, -errno);
    }
    lens[n++] = (int32_t)r;
  }
  return make_int(env, n);
}

/* tunWrite(fd, slab, offs: Int32Array, lens: Int32Array, n) → packets written | -errno
 * One write per packet (a TUN write is exactly one packet). A packet the kernel refuses
 * (EINVAL, …) is skipped; EAGAIN stops the batch. -errno only when nothing was written. */
static napi_value tun_write(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t fd, n;
  uint8_t *slab;
  size_t slab_len, noffs, nlens;
  int32_t *offs, *lens;
  if (get_args(env, info, 5, argv) || get_i32(env, argv[0], &fd) || get_buf(env, argv[1], &slab, &slab_len) ||
      get_arr32(env, argv[2], (void **)&offs, &noffs) || get_arr32(env, argv[3], (void **)&lens, &nlens) ||
      get_i32(env, argv[4], &n))
    return NULL;
  if (n < 0 || (size_t)n > noffs || (size_t)n > nlens) {
    napi_throw_range_error(env, NULL, "tunWrite: n exceeds offs/lens");
    return NULL;
  }
  int written = 0, last_err = 0;
  for (int i = 0; i < n; i++) {
    if (offs[i] < 0 || lens[i] < 0 || (size_t)offs[i] + (size_t)lens[i] > slab_len) {
      napi_throw_range_error(env, NULL, "tunWrite: packet outside slab");
      return NULL;
    }
    ssize_t r;
    do r = write(fd, slab + offs[i], lens[i]); while (r < 0 && errno == EINTR);
    if (r >= 0) { written++; continue; }
    last_err = errno;
    if (errno == EAGAIN) break;
  }
  return make_int(env, written == 0 && last_err != 0 ? -last_err : written);
}

/* udpOpen(addr: uint32 host order, port, bufBytes, wantGro, wantGso)
 *   → { fd, gro, gso, rcvbuf, sndbuf }
 * Binds a non-blocking UDP socket. Buffers use the *FORCE options first (root may exceed
 * net.core.rmem_max), then the plain ones. GRO and GSO are probed by setting them. */
static napi_value udp_open(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  uint32_t addr, port, buf;
  bool want_gro, want_gso;
  if (get_args(env, info, 5, argv) || get_u32(env, argv[0], &addr) || get_u32(env, argv[1], &port) ||
      get_u32(env, argv[2], &buf))
    return NULL;
  CHECK(napi_get_value_bool(env, argv[3], &want_gro));
  CHECK(napi_get_value_bool(env, argv[4], &want_gso));
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "udpOpen: socket", errno);
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
    return throw_errno(env, "udpOpen: bind", err);
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
static napi_value udp_recv(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  int32_t fd, slot, max;
  uint8_t *slab;
  size_t slab_len, nlens, nsrc, nseg;
  int32_t *lens, *seg;
  uint32_t *src;
  if (get_args(env, info, 7, argv) || get_i32(env, argv[0], &fd) || get_buf(env, argv[1], &slab, &slab_len) ||
      get_i32(env, argv[2], &slot) || get_arr32(env, argv[3], (void **)&lens, &nlens) ||
      get_arr32(env, argv[4], (void **)&src, &nsrc) || get_arr32(env, argv[5], (void **)&seg, &nseg) ||
      get_i32(env, argv[6], &max))
    return NULL;
  if (max > MAX_BATCH) max = MAX_BATCH;
  if (slot <= 0 || max < 0 || (size_t)max > nlens || (size_t)max > nsrc || (size_t)max > nseg ||
      (size_t)max * (size_t)slot > slab_len) {
    napi_throw_range_error(env, NULL, "udpRecv: slab or arrays too small for maxSlots");
    return NULL;
  }
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
  if (n < 0) return make_int(env, errno == EAGAIN ? 0 : -errno);
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
  return make_int(env, n);
}

/* udpSend(fd, slab, offs: Int32Array, lens: Int32Array, dst: Uint32Array, seg: Int32Array, n, port)
 *   → messages sent | -errno
 * sendmmsg, message i = slab[offs[i] .. +lens[i]] to dst[i]:port. seg[i] > 0 asks the
 * kernel to cut message i into datagrams of seg[i] bytes (UDP_SEGMENT); 0 sends it whole.
 * A message the kernel refuses is skipped; EAGAIN stops. -errno only when nothing went. */
static napi_value udp_send(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  int32_t fd, n, port;
  uint8_t *slab;
  size_t slab_len, noffs, nlens, ndst, nseg;
  int32_t *offs, *lens, *seg;
  uint32_t *dst;
  if (get_args(env, info, 8, argv) || get_i32(env, argv[0], &fd) || get_buf(env, argv[1], &slab, &slab_len) ||
      get_arr32(env, argv[2], (void **)&offs, &noffs) || get_arr32(env, argv[3], (void **)&lens, &nlens) ||
      get_arr32(env, argv[4], (void **)&dst, &ndst) || get_arr32(env, argv[5], (void **)&seg, &nseg) ||
      get_i32(env, argv[6], &n) || get_i32(env, argv[7], &port))
    return NULL;
  if (n < 0 || (size_t)n > noffs || (size_t)n > nlens || (size_t)n > ndst || (size_t)n > nseg) {
    napi_throw_range_error(env, NULL, "udpSend: n exceeds the arrays");
    return NULL;
  }
  static struct mmsghdr msgs[MAX_BATCH];
  static struct iovec iov[MAX_BATCH];
  static struct sockaddr_in addrs[MAX_BATCH];
  static union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } cms[MAX_BATCH];
  int sent = 0, last_err = 0, done = 0;
  while (done < n) {
    int m = n - done > MAX_BATCH ? MAX_BATCH : n - done;
    for (int k = 0; k < m; k++) {
      int i = done + k;
      if (offs[i] < 0 || lens[i] < 0 || (size_t)offs[i] + (size_t)lens[i] > slab_len) {
        napi_throw_range_error(env, NULL, "udpSend: message outside slab");
        return NULL;
      }
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
  return make_int(env, sent == 0 && last_err != 0 ? -last_err : sent);
}

/* csum(buf, off, len, initial) → the ones'-complement sum of buf[off..off+len) added to
 * `initial` (a folded 16-bit sum), folded to 16 bits and not complemented. The TS
 * segmenter uses it for L4 checksums of MTU-sized segments, where a JS byte loop costs
 * more than the call (bench/udp-throughput.ts). */
static napi_value csum(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  uint8_t *buf;
  size_t blen;
  int32_t off, len;
  uint32_t initial;
  if (get_args(env, info, 4, argv) || get_buf(env, argv[0], &buf, &blen) || get_i32(env, argv[1], &off) ||
      get_i32(env, argv[2], &len) || get_u32(env, argv[3], &initial))
    return NULL;
  if (off < 0 || len < 0 || (size_t)off + (size_t)len > blen) {
    napi_throw_range_error(env, NULL, "csum: range outside buffer");
    return NULL;
  }
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
  return make_int(env, (int64_t)sum);
}

/* closeFd(fd) → 0 | -errno */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (get_args(env, info, 1, argv) || get_i32(env, argv[0], &fd)) return NULL;
  return make_int(env, close(fd) < 0 ? -errno : 0);
}

/* schedYield() → 0 | -errno */
static napi_value sched_yield_(napi_env env, napi_callback_info info) {
  (void)info;
  return make_int(env, sched_yield() < 0 ? -errno : 0);
}

/* ---- readiness ---------------------------------------------------------------------- */

static void on_poll_closed(uv_handle_t *h) { free(h->data); }

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_async_context actx;
  int stopped;
  int in_callback;
} poller_t;

/* Drops the JS callback and async context and frees the handle once libuv is done with it. */
static void poller_release(poller_t *p) {
  napi_delete_reference(p->env, p->callback);
  napi_async_destroy(p->env, p->actx);
  uv_close((uv_handle_t *)&p->handle, on_poll_closed);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  poller_t *p = h->data;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg, result;
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  /* status < 0 (e.g. the fd went bad) is passed as a negative number: the JS side counts it. */
  napi_create_int32(env, status < 0 ? status : events, &arg);
  p->in_callback = 1;
  napi_status st = napi_make_callback(env, p->actx, recv, cb, 1, &arg, &result);
  p->in_callback = 0;
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
  /* pollStop from inside the callback defers the release to here. */
  if (p->stopped) poller_release(p);
}


/* pollStart(fd, events: 1 readable | 2 writable, cb(events)) → handle
 * The callback is registered once and called from the event loop on each readiness. */
static napi_value poll_start(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd, events;
  if (get_args(env, info, 3, argv) || get_i32(env, argv[0], &fd) || get_i32(env, argv[1], &events)) return NULL;
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  poller_t *p = calloc(1, sizeof *p);
  if (p == NULL) return throw_errno(env, "pollStart", ENOMEM);
  p->env = env;
  int rc = uv_poll_init(loop, &p->handle, fd);
  if (rc < 0) {
    free(p);
    return throw_errno(env, "pollStart: uv_poll_init", -rc);
  }
  p->handle.data = p;
  napi_value name, resource;
  CHECK(napi_create_string_utf8(env, "flannel.datapath.poll", NAPI_AUTO_LENGTH, &name));
  /* Node 24 needs a real resource object here (NULL fails inside async_hooks). */
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_async_init(env, resource, name, &p->actx));
  CHECK(napi_create_reference(env, argv[2], 1, &p->callback));
  int uvev = ((events & 1) ? UV_READABLE : 0) | ((events & 2) ? UV_WRITABLE : 0);
  rc = uv_poll_start(&p->handle, uvev, on_poll);
  if (rc < 0) {
    napi_delete_reference(env, p->callback);
    napi_async_destroy(env, p->actx);
    uv_close((uv_handle_t *)&p->handle, on_poll_closed);
    return throw_errno(env, "pollStart: uv_poll_start", -rc);
  }
  napi_value ext;
  CHECK(napi_create_external(env, p, NULL, NULL, &ext));
  return ext;
}

/* pollStop(handle): stops and frees the poll handle; safe to call twice. Call before
 * closing the fd (libuv requires the poll to stop first). */
static napi_value poll_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv)) return NULL;
  void *data;
  if (napi_get_value_external(env, argv[0], &data) != napi_ok) {
    napi_throw_type_error(env, NULL, "pollStop: expected a poll handle");
    return NULL;
  }
  poller_t *p = data;
  if (!p->stopped) {
    p->stopped = 1;
    uv_poll_stop(&p->handle);
    if (!p->in_callback) poller_release(p);
  }
  return NULL;
}

napi_value flannel_register_datapath(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"tunOpen", NULL, tun_open, NULL, NULL, NULL, napi_default, NULL},
      {"tunSetOffload", NULL, tun_set_offload, NULL, NULL, NULL, napi_default, NULL},
      {"tunSetPersist", NULL, tun_set_persist, NULL, NULL, NULL, napi_default, NULL},
      {"tunRead", NULL, tun_read, NULL, NULL, NULL, napi_default, NULL},
      {"tunWrite", NULL, tun_write, NULL, NULL, NULL, napi_default, NULL},
      {"udpOpen", NULL, udp_open, NULL, NULL, NULL, napi_default, NULL},
      {"udpRecv", NULL, udp_recv, NULL, NULL, NULL, napi_default, NULL},
      {"udpSend", NULL, udp_send, NULL, NULL, NULL, napi_default, NULL},
      {"csum", NULL, csum, NULL, NULL, NULL, napi_default, NULL},
      {"schedYield", NULL, sched_yield_, NULL, NULL, NULL, napi_default, NULL},
      {"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_default, NULL},
      {"pollStart", NULL, poll_start, NULL, NULL, NULL, napi_default, NULL},
      {"pollStop", NULL, poll_stop, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
