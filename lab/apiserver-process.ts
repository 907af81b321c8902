/**
 * Runs the Kubernetes API server double (lab/apiserver/main.ts) as a child inside the
 * underlay namespace, listening on the underlay bridge address so every node's daemon reaches it,
 * and talks to it through netns-fetch.ts (the lab itself stays in the root namespace).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './harness/exec.ts';
import { logTail, startDetached, waitFor, type StartedProcess } from './processes.ts';
import { APISERVER_ENTRY, NETNS_FETCH_ENTRY, nodeBinary } from './paths.ts';
import { API_SERVER_IP, API_SERVER_PORT } from './topology.ts';

export interface NodeSeed {
  readonly name: string;
  /** spec.podCIDRs; the first is also spec.podCIDR. */
  readonly podCidrs: readonly string[];
}

export async function startApiServerDouble(
  underlayNetns: string,
  runDir: string,
  nodes: readonly NodeSeed[],
  bookmarkIntervalMs?: number,
): Promise<{ process: StartedProcess; kubeconfig: string; logFile: string; stateFile: string }> {
  if (!existsSync(APISERVER_ENTRY)) throw new Error(`the API server double is missing: ${APISERVER_ENTRY}`);
  const kubeconfig = join(runDir, 'kubeconfig');
  const logFile = join(runDir, 'apiserver.log');
  // Kept across a stop and start (stopApiServer/startApiServer), like a real server's etcd.
  const stateFile = join(runDir, 'apiserver-state.json');
  const argv = [
    'ip', 'netns', 'exec', underlayNetns, nodeBinary(), APISERVER_ENTRY,
    '--listen', `${API_SERVER_IP}:${API_SERVER_PORT}`,
    '--kubeconfig-out', kubeconfig,
    '--state-file', stateFile,
    ...nodes.flatMap((n) => ['--node', `${n.name}=${n.podCidrs.join(',')}`]),
    ...(bookmarkIntervalMs !== undefined ? ['--bookmark-interval-ms', String(bookmarkIntervalMs)] : []),
  ];
  const before = logLines(logFile);
  const child = startDetached(argv, logFile);
  await waitFor(
    () => {
      if (child.exit() !== undefined) throw new Error(`the API server double exited (${JSON.stringify(child.exit())}):\n${logTail(logFile)}`);
      return logTail(logFile, 1000).split('\n').slice(before).some((l) => l.startsWith('listening ')) ? true : undefined;
    },
    15_000,
    () => `the API server double did not start listening on ${API_SERVER_IP}:${API_SERVER_PORT} within 15 s:\n${logTail(logFile)}`,
  );
  return { process: child, kubeconfig, logFile, stateFile };
}

function logLines(file: string): number {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: string;
}

/** A request to the API server double from inside the underlay namespace. */
export function apiRequest(underlayNetns: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<ApiResponse> {
  return fetchIn(underlayNetns, method, `http://${API_SERVER_IP}:${API_SERVER_PORT}${path}`, body, contentType);
}

/** An HTTP request from inside a namespace (for example a node's /metrics on 127.0.0.1). */
export async function fetchIn(netns: string, method: string, url: string, body?: unknown, contentType = 'application/json'): Promise<ApiResponse> {
  const request = {
    method,
    url,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'Content-Type': contentType } } : {}),
  };
  const { stdout } = await run(['ip', 'netns', 'exec', netns, nodeBinary(), NETNS_FETCH_ENTRY], { input: JSON.stringify(request) });
  return JSON.parse(stdout) as ApiResponse;
}
