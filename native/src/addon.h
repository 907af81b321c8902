/* flannel-ts native addon: only what Node has no API for (see DESIGN.md).
 * Each source file registers its own functions on the exports object. */
#ifndef FLANNEL_ADDON_H
#define FLANNEL_ADDON_H
#include <node_api.h>

napi_value flannel_register_netlink(napi_env env, napi_value exports);
napi_value flannel_register_datapath(napi_env env, napi_value exports);
napi_value flannel_register_nodecheck(napi_env env, napi_value exports);

#endif
