// Stands in for pino's lib/transport.js (pino.transport(): log transports in a worker thread),
// which flannel-ts never uses: it logs to stderr from the main thread (src/observe/log.ts). pino
// requires the module at load time, and with it thread-stream and node:worker_threads, for
// nothing (scripts/bundle.mjs, scripts/source-tree-hooks.mjs).
'use strict';
module.exports = function transport() {
  throw new Error('pino.transport() is not available in flannel-ts (scripts/bundle-stubs/pino-transport.cjs)');
};
