// Loaded by bin/flanneld (node --import) so the daemon run from the source tree costs about what
// the image's bundle costs (scripts/bundle.mjs; bench/daemon-footprint.ts measures both):
// - client-node's KubeConfig imports its whole generated API (dist/gen/index.js) and undici for
//   code paths flannel-ts never takes, ~60 MB of heap and a second of start-up that the bundle
//   leaves out. Here the two imports, and only when client-node's own dist/ modules make them,
//   resolve to the bundle's stubs, which throw if ever called.
// - Node strips the types of .ts files with a WebAssembly compiler that takes ~12 MB of memory
//   once loaded. With the compile cache on (in the OS temp dir, keyed by file content), a file
//   stripped once is not stripped again, and a start that finds every file cached never loads it.
import { enableCompileCache, registerHooks } from 'node:module';

enableCompileCache();

const STUBS = new URL('./bundle-stubs/', import.meta.url);
const CLIENT_NODE_DIST = /\/@kubernetes\/client-node\/dist\//;

registerHooks({
  resolve(specifier, context, nextResolve) {
    const parent = context.parentURL ?? '';
    if (CLIENT_NODE_DIST.test(parent)) {
      if (specifier === 'undici') return { url: new URL('undici.mjs', STUBS).href, shortCircuit: true };
      if (specifier === './gen/index.js' && parent.endsWith('/dist/config.js')) return { url: new URL('client-node-gen.mjs', STUBS).href, shortCircuit: true };
    }
    return nextResolve(specifier, context);
  },
});
