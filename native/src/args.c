/* Argument checks and the error shapes shared by every binding (conventions in addon.h). */
#include "addon.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

static bool throw_arg(flannel_args *a, const char *code, const char *name, const char *problem) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s %s", a->fn, name, problem);
  napi_throw_type_error(a->env, code, msg);
  return false;
}

static bool wrong_type(flannel_args *a, const char *name, const char *expected) {
  char problem[128];
  snprintf(problem, sizeof problem, "must be %s", expected);
  return throw_arg(a, "ERR_INVALID_ARG_TYPE", name, problem);
}

napi_value arg_invalid(flannel_args *a, const char *name, const char *problem) {
  throw_arg(a, "ERR_INVALID_ARG_VALUE", name, problem);
  return NULL;
}

bool args_get(flannel_args *a, napi_env env, napi_callback_info info, const char *fn, size_t want) {
  a->env = env;
  a->fn = fn;
  a->argc = FLANNEL_MAX_ARGS;
  if (napi_get_cb_info(env, info, &a->argc, a->argv, NULL, NULL) != napi_ok) a->argc = 0;
  if (a->argc >= want) return true;
  char msg[128];
  snprintf(msg, sizeof msg, "%s: expected %zu arguments, got %zu", fn, want, a->argc);
  napi_throw_type_error(env, "ERR_MISSING_ARGS", msg);
  return false;
}

static napi_valuetype type_of(flannel_args *a, size_t i) {
  napi_valuetype t = napi_undefined;
  if (i < a->argc) napi_typeof(a->env, a->argv[i], &t);
  return t;
}

/* The napi_get_value_* calls check the type themselves (napi_number_expected, …): the batch
 * calls of the udp datapath pay for one N-API call per argument, not two. */
bool arg_i32(flannel_args *a, size_t i, const char *name, int32_t *out) {
  if (i >= a->argc || napi_get_value_int32(a->env, a->argv[i], out) != napi_ok) return wrong_type(a, name, "a number");
  return true;
}

bool arg_u32(flannel_args *a, size_t i, const char *name, uint32_t *out) {
  if (i >= a->argc || napi_get_value_uint32(a->env, a->argv[i], out) != napi_ok) return wrong_type(a, name, "a number");
  return true;
}

bool arg_bool(flannel_args *a, size_t i, const char *name, bool *out) {
  if (i >= a->argc || napi_get_value_bool(a->env, a->argv[i], out) != napi_ok) return wrong_type(a, name, "a boolean");
  return true;
}

bool arg_buffer(flannel_args *a, size_t i, const char *name, uint8_t **data, size_t *len) {
  bool is_buf = false;
  void *d = NULL;
  if (i >= a->argc || napi_is_buffer(a->env, a->argv[i], &is_buf) != napi_ok || !is_buf ||
      napi_get_buffer_info(a->env, a->argv[i], &d, len) != napi_ok)
    return wrong_type(a, name, "a Buffer");
  *data = d;
  return true;
}

bool arg_array32(flannel_args *a, size_t i, const char *name, void **data, size_t *len) {
  napi_typedarray_type t;
  if (i >= a->argc || napi_get_typedarray_info(a->env, a->argv[i], &t, len, data, NULL, NULL) != napi_ok ||
      (t != napi_int32_array && t != napi_uint32_array))
    return wrong_type(a, name, "an Int32Array or Uint32Array");
  return true;
}

bool arg_string(flannel_args *a, size_t i, const char *name, bool nullable, char *buf, size_t cap, size_t *len) {
  napi_valuetype t = type_of(a, i);
  if (nullable && (t == napi_null || t == napi_undefined)) {
    buf[0] = '\0';
    *len = 0;
    return true;
  }
  if (t != napi_string) return wrong_type(a, name, nullable ? "a string or null" : "a string");
  /* One byte more than the limit is read, so a longer string shows as n == cap - 1. */
  size_t n = 0;
  if (napi_get_value_string_utf8(a->env, a->argv[i], buf, cap, &n) != napi_ok) return wrong_type(a, name, "a string");
  if (n == 0 || n >= cap - 1) {
    char problem[64];
    snprintf(problem, sizeof problem, "must be 1 to %zu bytes long", cap - 2);
    return throw_arg(a, "ERR_INVALID_ARG_VALUE", name, problem);
  }
  *len = n;
  return true;
}

bool arg_function(flannel_args *a, size_t i, const char *name) {
  return type_of(a, i) == napi_function ? true : wrong_type(a, name, "a function");
}

bool arg_external(flannel_args *a, size_t i, const char *name, void **out) {
  if (type_of(a, i) != napi_external || napi_get_value_external(a->env, a->argv[i], out) != napi_ok)
    return wrong_type(a, name, "a handle returned by the addon");
  return true;
}

napi_value flannel_int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

static void set_string(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, key, v);
}

napi_value flannel_throw_errno(napi_env env, int err, const char *op, const char *target) {
  char code[64], msg[512];
  /* Node's own name for it (the same as util.getSystemErrorName), so TypeScript compares codes
   * the way it does for KernelError and Node's errors. */
  uv_err_name_r(-err, code, sizeof code);
  if (target != NULL && target[0] != '\0') snprintf(msg, sizeof msg, "%s %s: %s (%s)", op, target, code, strerror(err));
  else snprintf(msg, sizeof msg, "%s: %s (%s)", op, code, strerror(err));
  napi_value m, e, no;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  set_string(env, e, "name", "NativeError");
  napi_create_int32(env, err, &no);
  napi_set_named_property(env, e, "errno", no);
  set_string(env, e, "code", code);
  set_string(env, e, "op", op);
  set_string(env, e, "target", target != NULL ? target : "");
  napi_throw(env, e);
  return NULL;
}
