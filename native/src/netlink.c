/* Netlink socket mechanism for src/netlink/: open (optionally in another netns), setsockopt,
 * send one Buffer (many messages) with one sendmsg, receive datagrams into a caller's Buffer,
 * readiness through uv_poll, close. No protocol logic here: framing, sequence numbers and
 * attributes are all parsed in TypeScript (DESIGN.md "Small native surface").
 *
 * Conventions: functions return a non-negative result or -errno and never throw for a kernel
 * error; they throw only for wrong JS arguments. */
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
#include <uv.h>

/* The largest datagram the kernel sends us: dump skbs are capped at 32 KiB, single replies
 * (e.g. one RTM_NEWLINK) stay well below 64 KiB. nl_recv stops reading once less room than
 * this is left, so no datagram is ever truncated. */
#define NL_MAX_DGRAM (64 * 1024)

#define THROW_IF(cond, msg)                       \
  do {                                            \
    if (cond) {                                   \
      napi_throw_type_error(env, NULL, msg);      \
      return NULL;                                \
    }                                             \
  } while (0)

static napi_value make_i32(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static int get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

static int get_buffer(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is_buf = false;
  if (napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf) return -1;
  return napi_get_buffer_info(env, v, (void **)data, len) == napi_ok ? 0 : -1;
}

/* Opens a NETLINK_ROUTE socket, non-blocking and close-on-exec, bound to a kernel-chosen
 * port id. With a netns path (e.g. /run/netns/NAME) the calling thread enters that namespace
 * only around socket(); the socket keeps the namespace it was created in.
 * nlOpen(netnsPath: string | null, protocol: number) → fd | -errno */
static napi_value nl_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  THROW_IF(argc < 2, "nlOpen(netnsPath, protocol)");
  int32_t protocol;
  THROW_IF(get_i32(env, argv[1], &protocol) != 0, "nlOpen: protocol must be a number");

  char path[4096];
  bool has_path = false;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t == napi_string) {
    size_t n = 0;
    napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &n);
    THROW_IF(n == 0 || n >= sizeof(path) - 1, "nlOpen: netns path empty or too long");
    has_path = true;
  } else {
    THROW_IF(t != napi_null && t != napi_undefined, "nlOpen: netnsPath must be a string or null");
  }

  int orig_ns = -1, target_ns = -1, fd = -1, err = 0;
  if (has_path) {
    orig_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (orig_ns < 0) return make_i32(env, -errno);
    target_ns = open(path, O_RDONLY | O_CLOEXEC);
    if (target_ns < 0) {
      err = errno;
      close(orig_ns);
      return make_i32(env, -err);
    }
    if (setns(target_ns, CLONE_NEWNET) != 0) {
      err = errno;
      close(target_ns);
      close(orig_ns);
      return make_i32(env, -err);
    }
  }

  fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) err = errno;

  if (has_path) {
    /* If we cannot get back, every later socket, file and connection of this thread would
     * live in the wrong namespace: that is not recoverable. */
    if (setns(orig_ns, CLONE_NEWNET) != 0) napi_fatal_error("nlOpen", NAPI_AUTO_LENGTH, "setns back to the original netns failed", NAPI_AUTO_LENGTH);
    close(target_ns);
    close(orig_ns);
  }
  if (fd < 0) return make_i32(env, -err);

  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof(sa));
  sa.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    err = errno;
    close(fd);
    return make_i32(env, -err);
  }
  return make_i32(env, fd);
}

/* nlSetsockoptInt(fd, level, name, value) → 0 | -errno */
static napi_value nl_setsockopt_int(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, level, name, value;
  THROW_IF(argc < 4 || get_i32(env, argv[0], &fd) || get_i32(env, argv[1], &level) || get_i32(env, argv[2], &name) ||
               get_i32(env, argv[3], &value),
           "nlSetsockoptInt(fd, level, name, value)");
  int v = value;
  if (setsockopt(fd, level, name, &v, sizeof(v)) != 0) return make_i32(env, -errno);
  return make_i32(env, 0);
}

/* nlGetsockoptInt(fd, level, name) → value (≥ 0) | -errno */
static napi_value nl_getsockopt_int(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, level, name;
  THROW_IF(argc < 3 || get_i32(env, argv[0], &fd) || get_i32(env, argv[1], &level) || get_i32(env, argv[2], &name),
           "nlGetsockoptInt(fd, level, name)");
  int v = 0;
  socklen_t len = sizeof(v);
  if (getsockopt(fd, level, name, &v, &len) != 0) return make_i32(env, -errno);
  return make_i32(env, v);
}

/* Sends buf[0, length) to the kernel (port 0) with one sendmsg: all messages in it are
 * processed, and acked, before the call returns.
 * nlSend(fd, buf, length) → bytes sent | -errno */
static napi_value nl_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, length;
  uint8_t *data;
  size_t cap;
  THROW_IF(argc < 3 || get_i32(env, argv[0], &fd) || get_buffer(env, argv[1], &data, &cap) || get_i32(env, argv[2], &length),
           "nlSend(fd, buf, length)");
  THROW_IF(length < 0 || (size_t)length > cap, "nlSend: length outside the buffer");

  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof(sa));
  sa.nl_family = AF_NETLINK;
  struct iovec iov = {.iov_base = data, .iov_len = (size_t)length};
  struct msghdr mh;
  memset(&mh, 0, sizeof(mh));
  mh.msg_name = &sa;
  mh.msg_namelen = sizeof(sa);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  ssize_t n;
  do n = sendmsg(fd, &mh, 0);
  while (n < 0 && errno == EINTR);
  return make_i32(env, n < 0 ? -errno : (int32_t)n);
}

/* Reads datagrams back to back into buf until the socket is empty or less than NL_MAX_DGRAM
 * room is left; each datagram starts 4-aligned (netlink messages are). Acks arrive one per
 * datagram, so this saves a JS→C crossing per ack.
 * nlRecv(fd, buf, info: Int32Array(3)) → bytes | -errno (-EAGAIN when nothing is queued).
 * info[0] = errno hit after some data was read (e.g. ENOBUFS; the kernel reports it only
 * once, so it must not be lost), info[1] = datagrams read, info[2] = 1 when a datagram from a
 * sender other than the kernel was dropped. */
static napi_value nl_recv(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  uint8_t *data;
  size_t cap;
  napi_typedarray_type tt;
  size_t ilen;
  void *idata;
  THROW_IF(argc < 3 || get_i32(env, argv[0], &fd) || get_buffer(env, argv[1], &data, &cap), "nlRecv(fd, buf, info)");
  THROW_IF(napi_get_typedarray_info(env, argv[2], &tt, &ilen, &idata, NULL, NULL) != napi_ok || tt != napi_int32_array || ilen < 3,
           "nlRecv: info must be an Int32Array of length 3");
  THROW_IF(cap < NL_MAX_DGRAM, "nlRecv: buffer must hold at least 64 KiB");
  int32_t *out = idata;
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;

  size_t pos = 0;
  while (cap - pos >= NL_MAX_DGRAM) {
    struct sockaddr_nl sa;
    struct iovec iov = {.iov_base = data + pos, .iov_len = cap - pos};
    struct msghdr mh;
    memset(&mh, 0, sizeof(mh));
    mh.msg_name = &sa;
    mh.msg_namelen = sizeof(sa);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      if (pos == 0) return make_i32(env, -e);
      if (e != EAGAIN && e != EWOULDBLOCK) out[0] = e;
      break;
    }
    if (mh.msg_flags & MSG_TRUNC) {
      /* Cannot happen with NL_MAX_DGRAM room; if it does, the stream is broken. */
      if (pos == 0) return make_i32(env, -EMSGSIZE);
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
  return make_i32(env, (int32_t)pos);
}

/* nlClose(fd) → 0 | -errno. Stop and close any poller on the fd first. */
static napi_value nl_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  THROW_IF(argc < 1 || get_i32(env, argv[0], &fd), "nlClose(fd)");
  return make_i32(env, close(fd) == 0 ? 0 : -errno);
}

/* ---- readiness: one uv_poll per fd, one JS callback registered once ---- */

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_ref resource;
  napi_async_context async;
  bool active;
  bool closed;
} nl_poller;

static void poller_free(uv_handle_t *h) {
  nl_poller *p = h->data;
  free(p);
}

static void poller_cb(uv_poll_t *h, int status, int events) {
  nl_poller *p = h->data;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[1], result;
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_reference_value(env, p->resource, &recv);
  napi_create_int32(env, status, &argv[0]);
  /* make_callback, not call_function: runs microtasks afterwards like any libuv callback */
  napi_status st = napi_make_callback(env, p->async, recv, cb, 1, argv, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static nl_poller *get_poller(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

/* nlPollCreate(fd, callback(status)) → poller. The callback runs each time fd is readable
 * while started; status < 0 is a libuv error. */
static napi_value nl_poll_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  napi_valuetype t = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t);
  THROW_IF(argc < 2 || get_i32(env, argv[0], &fd) || t != napi_function, "nlPollCreate(fd, callback)");
  uv_loop_t *loop;
  THROW_IF(napi_get_uv_event_loop(env, &loop) != napi_ok, "nlPollCreate: no event loop");
  nl_poller *p = calloc(1, sizeof(*p));
  THROW_IF(p == NULL, "nlPollCreate: out of memory");
  int r = uv_poll_init(loop, &p->poll, fd);
  if (r != 0) {
    free(p);
    napi_throw_error(env, uv_err_name(r), uv_strerror(r));
    return NULL;
  }
  p->poll.data = p;
  p->env = env;
  napi_value resource, name, ext;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "flannel:netlink-poll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &p->async);
  napi_create_reference(env, argv[1], 1, &p->callback);
  napi_create_reference(env, resource, 1, &p->resource);
  napi_create_external(env, p, NULL, NULL, &ext);
  return ext;
}

/* nlPollStart(poller) / nlPollStop(poller) → 0 | -errno. A started poller keeps the
 * event loop alive; a stopped one does not. */
static napi_value nl_poll_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nl_poller *p = argc < 1 ? NULL : get_poller(env, argv[0]);
  THROW_IF(p == NULL || p->closed, "nlPollStart(poller): not an open poller");
  if (p->active) return make_i32(env, 0);
  int r = uv_poll_start(&p->poll, UV_READABLE, poller_cb);
  if (r == 0) p->active = true;
  return make_i32(env, r);
}

static napi_value nl_poll_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nl_poller *p = argc < 1 ? NULL : get_poller(env, argv[0]);
  THROW_IF(p == NULL || p->closed, "nlPollStop(poller): not an open poller");
  p->active = false;
  return make_i32(env, uv_poll_stop(&p->poll));
}

/* nlPollClose(poller): stops it and frees it once libuv is done with it. Call before
 * closing the fd. Idempotent. */
static napi_value nl_poll_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nl_poller *p = argc < 1 ? NULL : get_poller(env, argv[0]);
  THROW_IF(p == NULL, "nlPollClose(poller): not a poller");
  if (p->closed) return make_i32(env, 0);
  p->closed = true;
  p->active = false;
  uv_poll_stop(&p->poll);
  napi_delete_reference(env, p->callback);
  napi_delete_reference(env, p->resource);
  napi_async_destroy(env, p->async);
  uv_close((uv_handle_t *)&p->poll, poller_free);
  return make_i32(env, 0);
}

napi_value flannel_register_netlink(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"nlOpen", NULL, nl_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlSetsockoptInt", NULL, nl_setsockopt_int, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlGetsockoptInt", NULL, nl_getsockopt_int, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlSend", NULL, nl_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlRecv", NULL, nl_recv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlClose", NULL, nl_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlPollCreate", NULL, nl_poll_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlPollStart", NULL, nl_poll_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlPollStop", NULL, nl_poll_stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"nlPollClose", NULL, nl_poll_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
