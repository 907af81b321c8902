/**
 * The network config in etcd mode: the value of `<prefix>/config`, the same JSON as
 * net-conf.json, validated by the same parser, so an error names the key instead of a file.
 * Upstream's getConfig retries every second until a valid config appears (main.go).
 */
import { errorText } from '../../util/errors.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseNetConf } from '../../config/netconf.ts';
import type { NetConf } from '../../config/types.ts';
import type { Logger } from '../../observe/log.ts';
import type { EtcdClient } from './client.ts';
import { configKey } from './lease-value.ts';

/** Upstream's text, then where we looked and how to create it. */
export function configNotFoundMessage(key: string, endpoints: string): string {
  return (
    `flannel config not found in etcd store. Did you create your config using etcdv3 API? ` +
    `(no key ${key} at ${endpoints}; create it with: etcdctl put ${key} '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}')`
  );
}

/** One attempt: the parsed config, or an Error whose message is one line naming the key. */
export async function readEtcdNetConf(client: EtcdClient, prefix: string, signal: AbortSignal): Promise<NetConf> {
  const key = configKey(prefix);
  const r = await client.range(key, { signal });
  const kv = r.kvs[0];
  if (kv === undefined) throw new Error(configNotFoundMessage(key, client.endpointList));
  // Upstream checks SubnetLen/Min/Max in etcd mode (it allocates from them): they stay fatal here.
  return parseNetConf(kv.value, `etcd key ${key}`, { subnetManager: 'etcd' });
}

/**
 * Retries every second until `<prefix>/config` exists and validates, as upstream. Each failure
 * is logged as `Couldn't fetch network config: <why>` when the reason changes, and once a minute
 * while it stays the same (upstream logs every second).
 */
export async function loadEtcdNetConf(client: EtcdClient, prefix: string, log: Logger, signal: AbortSignal): Promise<{ conf: NetConf; source: string }> {
  let last = '';
  for (let attempt = 0; ; attempt++) {
    try {
      return { conf: await readEtcdNetConf(client, prefix, signal), source: `etcd key ${configKey(prefix)}` };
    } catch (e) {
      if (signal.aborted) throw e;
      const msg = errorText(e);
      if (msg !== last || attempt % 60 === 0) log.error(`Couldn't fetch network config: ${msg}`);
      last = msg;
    }
    await sleep(1000, undefined, { signal });
  }
}
