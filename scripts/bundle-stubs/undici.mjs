// Stands in for the undici package inside the image bundle (scripts/bundle.mjs). client-node's
// KubeConfig imports undici at the top of its module for createDispatcher(), which only its
// generated API clients and its Watch call; flannel-ts uses neither (src/subnet/kube/transport.ts
// sends requests with node:https and KubeConfig.applyToHTTPSOptions). undici is CommonJS, so
// esbuild cannot drop it, and evaluating it costs ~45 ms and ~5 MB at every start
// (bench/daemon-footprint.ts). Reaching any of these is a bug in the bundle, said so loudly.
function missing(what) {
  throw new Error(`${what}: undici is not part of the flannel-ts image bundle (scripts/bundle-stubs/undici.mjs); requests go through node:https`);
}
export class Agent {
  constructor() {
    missing('undici.Agent');
  }
}
export class ProxyAgent {
  constructor() {
    missing('undici.ProxyAgent');
  }
}
export function fetch() {
  return Promise.reject(new Error('undici.fetch: undici is not part of the flannel-ts image bundle (scripts/bundle-stubs/undici.mjs); requests go through node:https'));
}
