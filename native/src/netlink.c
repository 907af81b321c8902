#include "addon.h"

/* Placeholder: filled in by the netlink work. */
napi_value flannel_register_netlink(napi_env env, napi_value exports) { return exports; }
