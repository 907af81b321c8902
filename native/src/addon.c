#include "addon.h"

static napi_value init(napi_env env, napi_value exports) {
  flannel_register_netlink(env, exports);
  flannel_register_datapath(env, exports);
  flannel_register_nodecheck(env, exports);
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
