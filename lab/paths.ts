/** Where the lab finds the project's own programs. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Node 24: the project's own (node_modules/.bin/node) when present, since the system Node may be older. */
export function nodeBinary(): string {
  const own = `${REPO_ROOT}node_modules/.bin/node`;
  return existsSync(own) ? own : process.execPath;
}

export const FLANNELD_BIN = `${REPO_ROOT}bin/flanneld`;
/** The daemon's entry; the lab checks it exists before starting nodes. */
export const FLANNELD_ENTRY = `${REPO_ROOT}src/cli/flanneld.ts`;
export const APISERVER_ENTRY = `${REPO_ROOT}lab/apiserver/main.ts`;
export const NETNS_FETCH_ENTRY = `${REPO_ROOT}lab/netns-fetch.ts`;
