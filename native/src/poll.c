/* Readiness: one uv_poll wrapper for every fd the addon watches (netlink sockets, the TUN
 * device, the UDP socket). A poller calls one JS callback, registered once, each time its fd is
 * ready while it is started.
 *
 * Two JS faces share it. Netlink sockets start and stop a poller around each wait:
 *   nlPollCreate(fd, cb) → handle; nlPollStart(h) / nlPollStop(h) → 0 | -errno; nlPollClose(h).
 * The udp datapath watches for its whole life:
 *   pollStart(fd, events: 1 readable | 2 writable, cb) → handle; pollStop(h).
 * The callback gets the ready events (UV_READABLE 1, UV_WRITABLE 2), or a negative libuv
 * status when the fd went bad. Close a poller before closing its fd (libuv requires it);
 * closing twice is harmless.
 *
 * Memory: the struct is freed only when libuv has closed the handle and the JS handle object
 * has been collected, so a call with a closed handle finds valid memory saying "closed". */
#include "addon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_ref resource; /* the receiver of the callback and the async resource */
  napi_async_context async;
  int events;        /* UV_READABLE | UV_WRITABLE to watch while started */
  bool started;
  bool closed;       /* no more callbacks; JS refs released (or about to be, see on_ready) */
  bool in_callback;
  bool handle_gone;  /* libuv's close callback ran */
  bool object_gone;  /* the JS handle object was collected */
} poller;

static void maybe_free(poller *p) {
  if (p->handle_gone && p->object_gone) free(p);
}

static void on_handle_closed(uv_handle_t *h) {
  poller *p = h->data;
  p->handle_gone = true;
  maybe_free(p);
}

static void on_object_collected(napi_env env, void *data, void *hint) {
  poller *p = data;
  p->object_gone = true;
  maybe_free(p);
}

static void release(poller *p) {
  napi_delete_reference(p->env, p->callback);
  napi_delete_reference(p->env, p->resource);
  napi_async_destroy(p->env, p->async);
  uv_close((uv_handle_t *)&p->handle, on_handle_closed);
}

static void on_ready(uv_poll_t *h, int status, int events) {
  poller *p = h->data;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg, result;
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_reference_value(env, p->resource, &recv);
  napi_create_int32(env, status < 0 ? status : events, &arg);
  p->in_callback = true;
  /* make_callback, not call_function: runs microtasks afterwards like any libuv callback. */
  napi_status st = napi_make_callback(env, p->async, recv, cb, 1, &arg, &result);
  p->in_callback = false;
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
  /* A close from inside the callback left the JS refs for here: they were in use above. */
  if (p->closed) release(p);
}

static int poller_start(poller *p) {
  if (p->started) return 0;
  int r = uv_poll_start(&p->handle, p->events, on_ready);
  if (r == 0) p->started = true;
  return r;
}

static int poller_stop(poller *p) {
  p->started = false;
  return uv_poll_stop(&p->handle);
}

static void poller_close(poller *p) {
  if (p->closed) return;
  p->closed = true;
  poller_stop(p);
  if (!p->in_callback) release(p);
}

/* A new, stopped poller for argument `fd_arg` with the callback at `cb_arg`; NULL after
 * throwing. */
static napi_value poller_create(flannel_args *a, size_t fd_arg, size_t cb_arg, int events, const char *resource_name) {
  napi_env env = a->env;
  int32_t fd;
  if (!arg_i32(a, fd_arg, "fd", &fd) || !arg_function(a, cb_arg, "callback")) return NULL;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return flannel_throw_errno(env, EINVAL, "napi_get_uv_event_loop", a->fn);
  poller *p = calloc(1, sizeof *p);
  if (p == NULL) return flannel_throw_errno(env, ENOMEM, "calloc", a->fn);
  int r = uv_poll_init(loop, &p->handle, fd);
  if (r != 0) {
    free(p);
    char target[32];
    snprintf(target, sizeof target, "fd %d", fd);
    return flannel_throw_errno(env, -r, "uv_poll_init", target);
  }
  p->handle.data = p;
  p->env = env;
  p->events = events;
  napi_value resource, name, ext;
  /* Node 24 needs a real resource object here (NULL fails inside async_hooks). */
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, resource_name, NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &p->async);
  napi_create_reference(env, a->argv[cb_arg], 1, &p->callback);
  napi_create_reference(env, resource, 1, &p->resource);
  if (napi_create_external(env, p, on_object_collected, NULL, &ext) != napi_ok) {
    p->object_gone = true;
    poller_close(p);
    return flannel_throw_errno(env, ENOMEM, "napi_create_external", a->fn);
  }
  return ext;
}

/* The open poller at argument 0; NULL after throwing (also for a closed one when `open`). */
static poller *poller_arg(flannel_args *a, bool open) {
  void *p = NULL;
  if (!arg_external(a, 0, "poller", &p)) return NULL;
  if (open && ((poller *)p)->closed) {
    arg_invalid(a, "poller", "is closed");
    return NULL;
  }
  return p;
}

/* nlPollCreate(fd, callback(events)) → poller, stopped; it watches for readability. */
napi_value nl_poll_create(napi_env env, napi_callback_info info) {
  flannel_args a;
  if (!args_get(&a, env, info, "nlPollCreate", 2)) return NULL;
  return poller_create(&a, 0, 1, UV_READABLE, "flannel:netlink-poll");
}

/* nlPollStart(poller) / nlPollStop(poller) → 0 | -errno. A started poller keeps the event loop
 * alive; a stopped one does not. */
napi_value nl_poll_start(napi_env env, napi_callback_info info) {
  flannel_args a;
  poller *p;
  if (!args_get(&a, env, info, "nlPollStart", 1) || (p = poller_arg(&a, true)) == NULL) return NULL;
  return flannel_int(env, poller_start(p));
}

napi_value nl_poll_stop(napi_env env, napi_callback_info info) {
  flannel_args a;
  poller *p;
  if (!args_get(&a, env, info, "nlPollStop", 1) || (p = poller_arg(&a, true)) == NULL) return NULL;
  return flannel_int(env, poller_stop(p));
}

/* nlPollClose(poller) → 0. Call before closing the fd. */
napi_value nl_poll_close(napi_env env, napi_callback_info info) {
  flannel_args a;
  poller *p;
  if (!args_get(&a, env, info, "nlPollClose", 1) || (p = poller_arg(&a, false)) == NULL) return NULL;
  poller_close(p);
  return flannel_int(env, 0);
}

/* pollStart(fd, events: 1 readable | 2 writable, callback(events)) → poller, started. */
napi_value poll_start(napi_env env, napi_callback_info info) {
  flannel_args a;
  int32_t events;
  if (!args_get(&a, env, info, "pollStart", 3) || !arg_i32(&a, 1, "events", &events)) return NULL;
  if ((events & 3) == 0 || (events & ~3) != 0) return arg_invalid(&a, "events", "must be 1 (readable), 2 (writable) or 3");
  napi_value ext = poller_create(&a, 0, 2, ((events & 1) ? UV_READABLE : 0) | ((events & 2) ? UV_WRITABLE : 0), "flannel.datapath.poll");
  if (ext == NULL) return NULL;
  void *p;
  napi_get_value_external(env, ext, &p);
  int r = poller_start(p);
  if (r != 0) {
    poller_close(p);
    return flannel_throw_errno(env, -r, "uv_poll_start", NULL);
  }
  return ext;
}

/* pollStop(poller): stops and closes it. Call before closing the fd. */
napi_value poll_stop(napi_env env, napi_callback_info info) {
  flannel_args a;
  poller *p;
  if (!args_get(&a, env, info, "pollStop", 1) || (p = poller_arg(&a, false)) == NULL) return NULL;
  poller_close(p);
  return NULL;
}
