/**
 * node:http, loaded with require rather than an ES import. An ES import of a built-in module
 * reads all of its exports to build the namespace, and node:http's WebSocket, CloseEvent and
 * MessageEvent are getters that load Node's bundled undici and web streams when first read:
 * ~3 MB of heap and ~13 MB of RSS for code the daemon never runs (bench/daemon-footprint.ts).
 * require keeps them lazy. `import type` from node:http costs nothing and stays as it is.
 */
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export const http = load('node:http') as typeof import('node:http');
