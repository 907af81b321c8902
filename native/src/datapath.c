#include "addon.h"

/* Placeholder: filled in by the datapath work. */
napi_value flannel_register_datapath(napi_env env, napi_value exports) { return exports; }
