/**
 * Standalone API server double, for the lab to run inside a namespace:
 *   node lab/apiserver/main.ts --listen 198.18.0.254:6443 --kubeconfig-out FILE
 *     [--tls-cert PEM --tls-key PEM] [--token T] [--node NAME=CIDR[,CIDR]]... [--bookmark-interval-ms N]
 *     [--compaction-interval-ms N] [--state-file FILE] [--unix-socket PATH]
 * --unix-socket: serve the same API on a unix socket too, so a process outside the namespace (a
 * bench) can reach it.
 * --state-file: on SIGTERM/SIGINT the objects and the resourceVersion are saved there; at start,
 * when the file exists, they are loaded instead of the --node seeds (a restart that keeps its data,
 * as a real API server backed by etcd does; the watch history starts empty, so old watches get 410).
 * Prints `listening <url>` on stdout once ready; exits cleanly on SIGTERM/SIGINT.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FakeApiServer } from './server.ts';
import type { StoreSnapshot } from './store.ts';
import { errorText } from '../../src/util/errors.ts';

function splitHostPort(listen: string): { host: string; port: number } {
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(listen);
  if (!m) throw new Error(`--listen must be HOST:PORT, got ${JSON.stringify(listen)}`);
  return { host: m[1]!, port: Number(m[2]) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      listen: { type: 'string', default: '127.0.0.1:6443' },
      'kubeconfig-out': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      token: { type: 'string' },
      node: { type: 'string', multiple: true, default: [] },
      'bookmark-interval-ms': { type: 'string' },
      'compaction-interval-ms': { type: 'string' },
      'unix-socket': { type: 'string' },
      'state-file': { type: 'string' },
    },
  });
  const { host, port } = splitHostPort(values.listen);
  const cert = values['tls-cert'];
  const key = values['tls-key'];
  if ((cert === undefined) !== (key === undefined)) throw new Error('--tls-cert and --tls-key go together');
  const stateFile = values['state-file'];
  const restore = stateFile !== undefined && existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as StoreSnapshot) : undefined;
  const server = await FakeApiServer.start({
    host,
    port,
    ...(cert !== undefined && key !== undefined ? { tls: { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') } } : {}),
    ...(values.token !== undefined ? { token: values.token } : {}),
    ...(values['bookmark-interval-ms'] !== undefined ? { bookmarkIntervalMs: Number(values['bookmark-interval-ms']) } : {}),
    ...(values['compaction-interval-ms'] !== undefined ? { compactionIntervalMs: Number(values['compaction-interval-ms']) } : {}),
    ...(values['unix-socket'] !== undefined ? { unixSocket: values['unix-socket'] } : {}),
    ...(restore !== undefined ? { restore } : {}),
  });
  if (restore === undefined) for (const spec of values.node) {
    const [name, list] = spec.split('=');
    if (!name) throw new Error(`--node must be NAME or NAME=CIDR[,CIDR], got ${JSON.stringify(spec)}`);
    // A dual-stack node has one podCIDR per family; the first is spec.podCIDR, as the node IPAM controller sets it.
    const cidrs = list ? list.split(',') : [];
    // Upstream's functional tests give every node one annotation so a nil map never occurs.
    server.createNode(name, { ...(cidrs.length > 0 ? { podCIDR: cidrs[0]!, podCIDRs: cidrs } : {}), annotations: { dummy: 'value' } });
  }
  if (values['kubeconfig-out'] !== undefined) server.writeKubeconfig(values['kubeconfig-out']);
  process.stdout.write(`listening ${server.url}\n`);
  const shutdown = (): void => {
    void server.stop().then(() => {
      if (stateFile !== undefined) {
        writeFileSync(`${stateFile}.tmp`, JSON.stringify(server.store.snapshot()));
        renameSync(`${stateFile}.tmp`, stateFile);
      }
      process.exit(0);
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((e: unknown) => {
  process.stderr.write(`apiserver: ${errorText(e)}\n`);
  process.exit(1);
});
