import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCidr } from '../../src/ip/ipv4.ts';
import { parseCidr6 } from '../../src/ip/ipv6.ts';
import { FakeApiServer, type FakeApiServerOptions } from '../../lab/apiserver/server.ts';
import { silentLogger, type Logger } from '../../src/observe/log.ts';
import type { LeaseEvent } from '../../src/subnet/lease.ts';
import { createKubeSubnetManager, type KubeSubnetManager, type KubeSubnetManagerConfig } from '../../src/subnet/kube/manager.ts';
import type { BackoffOptions } from '../../src/util/retry.ts';

export const PREFIX = 'flannel.alpha.coreos.com/';
export const MAC1 = 'aa:bb:cc:00:00:01';
export const vxlanData = (mac: string): string => `{"VNI":1,"VtepMAC":"${mac}"}`;

/** Annotations a running flannel node publishes. */
export function flannelAnnotations(publicIp: string, mac: string): Record<string, string> {
  return {
    [`${PREFIX}backend-data`]: vxlanData(mac),
    [`${PREFIX}backend-type`]: 'vxlan',
    [`${PREFIX}kube-subnet-manager`]: 'true',
    [`${PREFIX}public-ip`]: publicIp,
  };
}

export interface ManagerOptions {
  nodeName?: string;
  env?: NodeJS.ProcessEnv;
  setNodeNetworkUnavailable?: boolean;
  prefix?: string;
  /** `null` turns IPv4 off; `ipv6Network` turns IPv6 on. */
  network?: string | null;
  ipv6Network?: string;
  log?: Logger;
  syncTimeoutMs?: number;
  /** Default 10–100 ms, so failures retry quickly. */
  backoff?: BackoffOptions;
  reflector?: KubeSubnetManagerConfig['reflector'];
}

export interface Harness {
  readonly api: FakeApiServer;
  readonly kubeconfig: string;
  manager(opts?: ManagerOptions): Promise<KubeSubnetManager>;
  close(): Promise<void>;
}

export async function startHarness(opts: FakeApiServerOptions = {}): Promise<Harness> {
  const api = await FakeApiServer.start(opts);
  const dir = mkdtempSync(join(tmpdir(), 'flannel-kube-'));
  const kubeconfig = join(dir, 'kubeconfig');
  api.writeKubeconfig(kubeconfig);
  const managers: KubeSubnetManager[] = [];
  return {
    api,
    kubeconfig,
    async manager(m = {}) {
      const mgr = await createKubeSubnetManager({
        kubeconfigFile: kubeconfig,
        annotationPrefix: m.prefix ?? 'flannel.alpha.coreos.com',
        ...(m.network === null ? {} : { network: parseCidr(m.network ?? '10.244.0.0/16')! }),
        ...(m.ipv6Network === undefined ? {} : { ipv6Network: parseCidr6(m.ipv6Network)! }),
        setNodeNetworkUnavailable: m.setNodeNetworkUnavailable ?? true,
        log: m.log ?? silentLogger(),
        env: m.env ?? { NODE_NAME: m.nodeName ?? 'node1' },
        backoff: m.backoff ?? { initialMs: 10, maxMs: 100 },
        ...(m.syncTimeoutMs !== undefined ? { syncTimeoutMs: m.syncTimeoutMs } : {}),
        ...(m.reflector !== undefined ? { reflector: m.reflector } : {}),
      });
      managers.push(mgr);
      return mgr;
    },
    async close() {
      for (const m of managers) m.close();
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a value other than undefined/false; the test timeout bounds it. */
export async function waitFor<T>(check: () => T | undefined | false): Promise<T> {
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Collects lease events as `added 10.244.2.0/24 node2 198.18.0.2` strings, one per event. */
export function collectEvents(mgr: KubeSubnetManager, signal: AbortSignal): { events: string[]; batches: number } {
  const sink = { events: [] as string[], batches: 0 };
  mgr.watchLeases((batch: readonly LeaseEvent[]) => {
    sink.batches++;
    for (const e of batch) {
      const s = e.lease.subnet!;
      sink.events.push(`${e.type} ${s.ip >>> 24}.${(s.ip >>> 16) & 255}.${(s.ip >>> 8) & 255}.${s.ip & 255}/${s.prefixLen} ${e.lease.node ?? '?'} ${e.lease.attrs.publicIp}`);
    }
  }, signal);
  return sink;
}
