// Stands in for prom-client's lib/pushgateway.js, which flannel-ts never uses (Prometheus scrapes
// /metrics). prom-client requires it at load time, and with it node:http, https, tls and zlib:
// several milliseconds of every start for nothing (scripts/bundle.mjs, scripts/source-tree-hooks.mjs).
'use strict';
module.exports = class Pushgateway {
  constructor() {
    throw new Error('prom-client Pushgateway is not available in flannel-ts (scripts/bundle-stubs/prom-client-pushgateway.cjs)');
  }
};
