import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Loads the N-API addon built by `native/build.mjs`. The path is found relative to this file
 * in the source tree, or beside the bundle (dist/flannel_native.node) in the image.
 */
let cached: unknown;

export function loadNative(): unknown {
  if (cached !== undefined) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    process.env.FLANNEL_NATIVE_ADDON,
    join(here, 'flannel_native.node'),
    // A bundle chunk (chunks/*.mjs) that holds this module: the addon sits beside the entry.
    join(here, '..', 'flannel_native.node'),
    join(here, '../../native/build/Release/flannel_native.node'),
  ].filter((p): p is string => p !== undefined && p !== '');
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new Error(`native addon not built: none of ${candidates.join(', ')} exists; run "npm run build:native"`);
  }
  cached = createRequire(import.meta.url)(found);
  return cached;
}
