/* flannel-ts native addon: only what Node has no API for. addon.c lists every function JS
 * sees; the helpers below are shared by all of them.
 *
 * Error conventions, the same in every file:
 *  - A wrong JS argument is a programming error: a TypeError whose message names the function
 *    and the argument ("tunRead: slotSize must be a number"), code ERR_INVALID_ARG_TYPE for a
 *    wrong type and ERR_INVALID_ARG_VALUE for a value out of range.
 *  - The udp datapath's setup calls (tunOpen, tunSetOffload, tunSetPersist, udpOpen) and the
 *    pollers throw the addon's one error shape when a system call fails: an Error named
 *    NativeError with `errno` (a positive number), `code` ('EBUSY'), `op` (the call that
 *    failed, e.g. 'TUNSETIFF') and `target` (what it was about), built by flannel_throw_errno.
 *  - The netlink calls and the datapath's per-packet calls return -errno instead: netlink's
 *    because src/netlink/socket.ts turns each into a KernelError naming the request (it carries
 *    errno, code and op too), the per-packet ones because EAGAIN is routine there. */
#ifndef FLANNEL_ADDON_H
#define FLANNEL_ADDON_H
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The bindings, by file; each comment above a definition gives its JS signature. */
#define FLANNEL_BINDING(fn) napi_value fn(napi_env env, napi_callback_info info)
/* netlink.c: rtnetlink sockets for src/netlink/ */
FLANNEL_BINDING(nl_open);
FLANNEL_BINDING(nl_setsockopt_int);
FLANNEL_BINDING(nl_getsockopt_int);
FLANNEL_BINDING(nl_send);
FLANNEL_BINDING(nl_recv);
FLANNEL_BINDING(nl_close);
/* datapath.c: TUN and UDP for the udp backend */
FLANNEL_BINDING(tun_open);
FLANNEL_BINDING(tun_set_offload);
FLANNEL_BINDING(tun_set_persist);
FLANNEL_BINDING(tun_read);
FLANNEL_BINDING(tun_write);
FLANNEL_BINDING(udp_open);
FLANNEL_BINDING(udp_recv);
FLANNEL_BINDING(udp_send);
FLANNEL_BINDING(csum);
FLANNEL_BINDING(close_fd);
FLANNEL_BINDING(sched_yield_);
/* poll.c: readiness for both */
FLANNEL_BINDING(nl_poll_create);
FLANNEL_BINDING(nl_poll_start);
FLANNEL_BINDING(nl_poll_stop);
FLANNEL_BINDING(nl_poll_close);
FLANNEL_BINDING(poll_start);
FLANNEL_BINDING(poll_stop);
/* nodecheck.c: the ethtool checksum switch and ICMP probes (doctor, peer health) */
FLANNEL_BINDING(ethtool_tx_csum);
FLANNEL_BINDING(icmp_open);
FLANNEL_BINDING(icmp_send);
FLANNEL_BINDING(icmp_recv);
FLANNEL_BINDING(icmp6_open);
FLANNEL_BINDING(icmp6_send);
FLANNEL_BINDING(icmp6_recv);

/* ---- namespaces (netns.c) ---- */

/* socket(domain, type, proto) inside the network namespace at `netns_path` (NULL or "": this
 * thread's own). Returns the fd or -errno. */
int socket_in_netns(const char *netns_path, int domain, int type, int proto);

/* ---- arguments (args.c) ---- */

#define FLANNEL_MAX_ARGS 8

/* One call's arguments and the function name used in every TypeError about them. */
typedef struct {
  napi_env env;
  const char *fn;
  size_t argc;
  napi_value argv[FLANNEL_MAX_ARGS];
} flannel_args;

/* Each returns true on success; on failure it has thrown a TypeError and returns false, so
 * calls chain with || and the binding returns NULL. `name` is the argument's name in the
 * TypeScript signature. */
bool args_get(flannel_args *a, napi_env env, napi_callback_info info, const char *fn, size_t want);
bool arg_i32(flannel_args *a, size_t i, const char *name, int32_t *out);
bool arg_u32(flannel_args *a, size_t i, const char *name, uint32_t *out);
bool arg_bool(flannel_args *a, size_t i, const char *name, bool *out);
bool arg_buffer(flannel_args *a, size_t i, const char *name, uint8_t **data, size_t *len);
/* An Int32Array or Uint32Array; len is in elements. */
bool arg_array32(flannel_args *a, size_t i, const char *name, void **data, size_t *len);
/* A string of 1..cap-1 bytes, NUL-terminated in buf; with `nullable`, null and undefined give
 * *len = 0. */
bool arg_string(flannel_args *a, size_t i, const char *name, bool nullable, char *buf, size_t cap, size_t *len);
bool arg_function(flannel_args *a, size_t i, const char *name);
bool arg_external(flannel_args *a, size_t i, const char *name, void **out);
/* Throws the TypeError ERR_INVALID_ARG_VALUE "<fn>: <name> <problem>" and returns NULL. */
napi_value arg_invalid(flannel_args *a, const char *name, const char *problem);

/* ---- results and errors (args.c) ---- */

napi_value flannel_int(napi_env env, int64_t v);
/* Throws the NativeError for `err` (a positive errno) and returns NULL. `target` may be NULL. */
napi_value flannel_throw_errno(napi_env env, int err, const char *op, const char *target);

#endif
