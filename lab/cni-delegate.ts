/**
 * The delegate configuration flannel's CNI plugin builds from its own netconf and subnet.env
 * (`doCmdAdd` + `getDelegateIPAM` in flannel-io/cni-plugin's flannel_linux.go), so the lab can
 * call the bridge plugin with exactly what a kubelet node running flannel would pass it.
 */
import type { FlannelSubnetEnv } from './subnet-env.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** The flannel plugin's input netconf (the cni-conf.json of the manifest, or the plugin's defaults). */
export interface FlannelNetConf {
  readonly name: string;
  readonly cniVersion?: string;
  /** Extra settings for the delegated plugin; must not carry `name` or `ipam`. */
  readonly delegate?: JsonObject;
  /** The base for the delegate's ipam (for example host-local's `dataDir`). */
  readonly ipam?: JsonObject;
}

/** The manifest's cni-conf.json (kube-flannel.yml): the conf the lab uses by default. */
export function manifestFlannelNetConf(ipam?: JsonObject): FlannelNetConf {
  return {
    name: 'cbr0',
    cniVersion: '0.3.1',
    delegate: { hairpinMode: true, isDefaultGateway: true },
    ...(ipam !== undefined ? { ipam } : {}),
  };
}

export function flannelDelegateConfig(conf: FlannelNetConf, env: FlannelSubnetEnv): JsonObject {
  const delegate: JsonObject = { ...(conf.delegate ?? {}) };
  if ('name' in delegate) throw new Error(`flannel netconf "${conf.name}": delegate must not contain "name"`);
  if ('ipam' in delegate) throw new Error(`flannel netconf "${conf.name}": delegate must not contain "ipam"`);
  if ('type' in delegate && typeof delegate['type'] !== 'string') {
    throw new Error(`flannel netconf "${conf.name}": delegate "type" must be a string`);
  }
  delegate['name'] = conf.name;
  if (!('type' in delegate)) delegate['type'] = 'bridge';
  // If flannel does not masquerade, the bridge plugin should.
  if (!('ipMasq' in delegate)) delegate['ipMasq'] = !env.ipMasq;
  if (!('mtu' in delegate)) delegate['mtu'] = env.mtu;
  if (delegate['type'] === 'bridge' && !('isGateway' in delegate)) delegate['isGateway'] = true;
  if (conf.cniVersion !== undefined && conf.cniVersion !== '') delegate['cniVersion'] = conf.cniVersion;
  delegate['ipam'] = delegateIpam(conf, env);
  return delegate;
}

function delegateIpam(conf: FlannelNetConf, env: FlannelSubnetEnv): JsonObject {
  const ipam: JsonObject = { ...(conf.ipam ?? {}) };
  if (!('type' in ipam)) ipam['type'] = 'host-local';
  const ranges: Json[] = [];
  if (env.subnet !== undefined) ranges.push([{ subnet: env.subnet }]);
  if (env.ipv6Subnet !== undefined) ranges.push([{ subnet: env.ipv6Subnet }]);
  ipam['ranges'] = ranges;
  const given = ipam['routes'];
  const routes: Json[] = Array.isArray(given) ? [...given] : [];
  for (const dst of env.networks) routes.push({ dst });
  for (const dst of env.ipv6Networks) routes.push({ dst });
  ipam['routes'] = routes;
  return ipam;
}
