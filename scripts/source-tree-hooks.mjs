// Loaded by bin/flanneld (node --import) so the daemon run from the source tree costs about what
// the image's bundle costs (scripts/bundle.mjs; bench/daemon-footprint.ts measures both):
// - client-node's KubeConfig imports its whole generated API (dist/gen/index.js) and undici for
//   code paths flannel-ts never takes, ~60 MB of heap and a second of start-up that the bundle
//   leaves out; prom-client loads its Pushgateway (node:https, tls, zlib) and pino its transport
//   (worker threads) for nothing. Here those imports, and only when made by those modules,
//   resolve to the bundle's stubs (STUBS in scripts/bundle.mjs), which throw if ever called.
// - Node strips the types of .ts files with a WebAssembly compiler that takes ~12 MB of memory
//   once loaded. With the compile cache on (in the OS temp dir, keyed by file content), a file
//   stripped once is not stripped again, and a start that finds every file cached never loads it.
import { enableCompileCache, registerHooks } from 'node:module';

enableCompileCache();

const STUB_DIR = new URL('./bundle-stubs/', import.meta.url);
const STUBS = [
  { specifier: 'undici', importer: /\/@kubernetes\/client-node\/dist\//, stub: 'undici.mjs' },
  { specifier: './gen/index.js', importer: /\/@kubernetes\/client-node\/dist\/config\.js$/, stub: 'client-node-gen.mjs' },
  { specifier: './lib/pushgateway', importer: /\/prom-client\/index\.js$/, stub: 'prom-client-pushgateway.cjs' },
  { specifier: './lib/transport', importer: /\/pino\/pino\.js$/, stub: 'pino-transport.cjs' },
  { specifier: './transport', importer: /\/pino\/lib\/tools\.js$/, stub: 'pino-transport.cjs' },
];

registerHooks({
  resolve(specifier, context, nextResolve) {
    const parent = context.parentURL ?? '';
    const s = STUBS.find((x) => x.specifier === specifier && x.importer.test(parent));
    if (s !== undefined) return { url: new URL(s.stub, STUB_DIR).href, shortCircuit: true };
    return nextResolve(specifier, context);
  },
});
