/* Netlink socket mechanism for src/netlink/: open (optionally in another netns), setsockopt,
 * send one Buffer (many messages) with one sendmsg, receive datagrams into a caller's Buffer,
 * close. Readiness is in poll.c. No protocol logic here: framing, sequence numbers and
 * attributes are all parsed in TypeScript, where they can be tested without a kernel.
 *
 * Every function here returns a non-negative result or -errno and never throws for a kernel
 * error (src/netlink/socket.ts turns -errno into a KernelError naming the request); wrong
 * arguments throw a TypeError (addon.h). */
#define _GNU_SOURCE
#include "addon.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The largest datagram the kernel sends us: dump skbs are capped at 32 KiB, single replies
 * (e.g. one RTM_NEWLINK) stay well below 64 KiB. nl_recv stops reading once less room than
 * this is left, so no datagram is ever truncated. */
#define NL_MAX_DGRAM (64 * 1024)

/* A message header for one buffer, addressed to (send) or filled with (recv) a netlink peer. */
static void nl_msghdr(struct msghdr *mh, struct sockaddr_nl *sa, struct iovec *iov, void *data, size_t len) {
  memset(sa, 0, sizeof(*sa));
  sa->nl_family = AF_NETLINK;
  iov->iov_base = data;
  iov->iov_len = len;
  memset(mh, 0, sizeof(*mh));
  mh->msg_name = sa;
  mh->msg_namelen = sizeof(*sa);
  mh->msg_iov = iov;
  mh->msg_iovlen = 1;
}

/* Opens a NETLINK_ROUTE socket, non-blocking and close-on-exec, bound to a kernel-chosen
 * port id. With a netns path (e.g. /run/netns/NAME) the calling thread enters that namespace
 * only around socket(); the socket keeps the namespace it was created in.
 * nlOpen(netnsPath: string | null, protocol: number) → fd | -errno */
napi_value nl_open(napi_env env, napi_callback_info info) {
  flannel_args a;
  char path[4096];
  size_t path_len;
  int32_t protocol;
  if (!args_get(&a, env, info, "nlOpen", 2) || !arg_string(&a, 0, "netnsPath", true, path, sizeof(path), &path_len) ||
      !arg_i32(&a, 1, "protocol", &protocol))
    return NULL;
  int fd = socket_in_netns(path_len > 0 ? path : NULL, AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return flannel_int(env, fd);
  int err = 0;

  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    err = errno;
    close(fd);
    return flannel_int(env, -err);
  }
  return flannel_int(env, fd);
}

/* nlSetsockoptInt(fd, level, name, value) → 0 | -errno */
napi_value nl_setsockopt_int(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd, level, name, value;
  if (!args_get(&a, env, info, "nlSetsockoptInt", 4) || !arg_i32(&a, 0, "fd", &fd) || !arg_i32(&a, 1, "level", &level) ||
      !arg_i32(&a, 2, "name", &name) || !arg_i32(&a, 3, "value", &value))
    return NULL;
  int v = value;
  if (setsockopt(fd, level, name, &v, sizeof(v)) != 0) return flannel_int(env, -errno);
  return flannel_int(env, 0);
}

/* nlGetsockoptInt(fd, level, name) → value (≥ 0) | -errno */
napi_value nl_getsockopt_int(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd, level, name;
  if (!args_get(&a, env, info, "nlGetsockoptInt", 3) || !arg_i32(&a, 0, "fd", &fd) || !arg_i32(&a, 1, "level", &level) ||
      !arg_i32(&a, 2, "name", &name))
    return NULL;
  int v = 0;
  socklen_t len = sizeof(v);
  if (getsockopt(fd, level, name, &v, &len) != 0) return flannel_int(env, -errno);
  return flannel_int(env, v);
}

/* Sends buf[0, length) to the kernel (port 0) with one sendmsg: all messages in it are
 * processed, and acked, before the call returns.
 * nlSend(fd, buf, length) → bytes sent | -errno */
napi_value nl_send(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd, length;
  uint8_t *data;
  size_t cap;
  if (!args_get(&a, env, info, "nlSend", 3) || !arg_i32(&a, 0, "fd", &fd) || !arg_buffer(&a, 1, "buf", &data, &cap) ||
      !arg_i32(&a, 2, "length", &length))
    return NULL;
  if (length < 0 || (size_t)length > cap) return arg_invalid(&a, "length", "is outside the buffer");

  struct sockaddr_nl sa;
  struct iovec iov;
  struct msghdr mh;
  nl_msghdr(&mh, &sa, &iov, data, (size_t)length);
  ssize_t n;
  do n = sendmsg(fd, &mh, 0);
  while (n < 0 && errno == EINTR);
  return flannel_int(env, n < 0 ? -errno : (int32_t)n);
}

/* Reads datagrams back to back into buf until the socket is empty or less than NL_MAX_DGRAM
 * room is left; each datagram starts 4-aligned (netlink messages are). Acks arrive one per
 * datagram, so this saves a JS→C crossing per ack.
 * nlRecv(fd, buf, info: Int32Array(3)) → bytes | -errno (-EAGAIN when nothing is queued).
 * info[0] = errno hit after some data was read (e.g. ENOBUFS; the kernel reports it only
 * once, so it must not be lost), info[1] = datagrams read, info[2] = 1 when a datagram from a
 * sender other than the kernel was dropped. */
napi_value nl_recv(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd;
  uint8_t *data;
  size_t cap, ilen;
  int32_t *out;
  if (!args_get(&a, env, info, "nlRecv", 3) || !arg_i32(&a, 0, "fd", &fd) || !arg_buffer(&a, 1, "buf", &data, &cap) ||
      !arg_array32(&a, 2, "info", (void **)&out, &ilen))
    return NULL;
  if (ilen < 3) return arg_invalid(&a, "info", "must have 3 elements");
  if (cap < NL_MAX_DGRAM) return arg_invalid(&a, "buf", "must hold at least 64 KiB");
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;

  size_t pos = 0;
  while (cap - pos >= NL_MAX_DGRAM) {
    struct sockaddr_nl sa;
    struct iovec iov;
    struct msghdr mh;
    nl_msghdr(&mh, &sa, &iov, data + pos, cap - pos);
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      if (pos == 0) return flannel_int(env, -e);
      if (e != EAGAIN && e != EWOULDBLOCK) out[0] = e;
      break;
    }
    if (mh.msg_flags & MSG_TRUNC) {
      /* Cannot happen with NL_MAX_DGRAM room; if it does, the stream is broken. */
      if (pos == 0) return flannel_int(env, -EMSGSIZE);
      out[0] = EMSGSIZE;
      break;
    }
    if (sa.nl_pid != 0) {
      out[2] = 1;  /* only the kernel may talk to us */
      continue;
    }
    out[1]++;
    size_t aligned = ((size_t)n + 3) & ~(size_t)3;
    if (aligned > (size_t)n && pos + aligned <= cap) memset(data + pos + n, 0, aligned - (size_t)n);
    pos += aligned;
  }
  return flannel_int(env, (int32_t)pos);
}

/* nlClose(fd) → 0 | -errno. Close any poller on the fd first. */
napi_value nl_close(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t fd;
  if (!args_get(&a, env, info, "nlClose", 1) || !arg_i32(&a, 0, "fd", &fd)) return NULL;
  return flannel_int(env, close(fd) == 0 ? 0 : -errno);
}
