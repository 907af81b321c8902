// Stands in for @kubernetes/client-node's dist/gen/index.js (every generated model and API of
// Kubernetes: ~0.5 s and ~60 MB to load) where client-node's KubeConfig (dist/config.js) imports
// it. KubeConfig uses it only in makeApiClient(), which flannel-ts never calls: its requests are
// built by src/subnet/kube/client.ts. The bundle drops it by tree-shaking (scripts/bundle.mjs);
// the source tree maps it here (scripts/source-tree-hooks.mjs).
const unused = (name) => () => {
  throw new Error(`@kubernetes/client-node ${name} is not available in flannel-ts (the generated API is not loaded)`);
};
export const createConfiguration = unused('createConfiguration');
export const ServerConfiguration = unused('ServerConfiguration');
