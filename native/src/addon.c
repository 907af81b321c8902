#include "addon.h"

/* The addon's whole JS surface, typed in src/native/netlink-native.ts and datapath-native.ts. */
static const struct {
  const char *name;
  napi_callback fn;
} bindings[] = {
    {"nlOpen", nl_open},
    {"nlSetsockoptInt", nl_setsockopt_int},
    {"nlGetsockoptInt", nl_getsockopt_int},
    {"nlSend", nl_send},
    {"nlRecv", nl_recv},
    {"nlClose", nl_close},
    {"nlPollCreate", nl_poll_create},
    {"nlPollStart", nl_poll_start},
    {"nlPollStop", nl_poll_stop},
    {"nlPollClose", nl_poll_close},
    {"tunOpen", tun_open},
    {"tunSetOffload", tun_set_offload},
    {"tunSetPersist", tun_set_persist},
    {"tunRead", tun_read},
    {"tunWrite", tun_write},
    {"udpOpen", udp_open},
    {"udpRecv", udp_recv},
    {"udpSend", udp_send},
    {"csum", csum},
    {"closeFd", close_fd},
    {"schedYield", sched_yield_},
    {"pollStart", poll_start},
    {"pollStop", poll_stop},
    {"ethtoolTxCsum", ethtool_tx_csum},
    {"icmpOpen", icmp_open},
    {"icmpSend", icmp_send},
    {"icmpRecv", icmp_recv},
    {"icmp6Open", icmp6_open},
    {"icmp6Send", icmp6_send},
    {"icmp6Recv", icmp6_recv},
};

NAPI_MODULE_INIT() {
  for (size_t i = 0; i < sizeof bindings / sizeof bindings[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, bindings[i].name, NAPI_AUTO_LENGTH, bindings[i].fn, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, bindings[i].name, fn) != napi_ok)
      return NULL;
  }
  return exports;
}
