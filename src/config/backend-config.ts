import type { BackendConfig } from './types.ts';
import type { JsonFields } from './json-fields.ts';

/** Backends flannel-ts implements, by the name net-conf.json uses. */
export const SUPPORTED_BACKENDS = ['vxlan', 'host-gw', 'udp'] as const;

/** Backends upstream flanneld has and flannel-ts does not (yet); named so the error can say so. */
export const UPSTREAM_ONLY_BACKENDS = ['ipip', 'wireguard', 'ipsec', 'alloc', 'extension', 'tencent-vpc'] as const;

/** Upstream's udp port (`pkg/backend/udp`). */
export const UDP_DEFAULT_PORT = 8285;
/** Upstream's VNI; also names the device flannel.<VNI>. */
export const VXLAN_DEFAULT_VNI = 1;
const VNI_MAX = 0xffffff;
/** IPv4's minimum link MTU (RFC 791). */
const MTU_MIN = 68;
const MTU_EXPECTED = `an integer ${MTU_MIN}..65535, or 0 for the external interface's MTU`;

const SUPPORTED_TEXT = `one of ${SUPPORTED_BACKENDS.join(', ')}`;
const UPSTREAM_ONLY_TEXT = `${UPSTREAM_ONLY_BACKENDS.join(', ')} are upstream flannel backends not supported by flannel-ts yet`;

/**
 * The `Backend` object of net-conf.json. Upstream's default when the key is absent is udp (the
 * docs say vxlan, the code says udp); we follow the code and report `defaulted` so the daemon
 * can warn. Unknown keys inside the object are ignored, as upstream ignores them.
 */
export function parseBackend(backend: JsonFields | undefined): { backend: BackendConfig; defaulted: boolean } {
  if (backend === undefined) return { backend: { type: 'udp', port: UDP_DEFAULT_PORT }, defaulted: true };
  const type = backendType(backend);
  switch (type) {
    case 'vxlan':
      return { backend: parseVxlan(backend), defaulted: false };
    case 'host-gw':
      return { backend: { type: 'host-gw' }, defaulted: false };
    case 'udp':
      return {
        backend: {
          type: 'udp',
          port: backend.int('Port', UDP_DEFAULT_PORT, {
            min: 1,
            max: 65535,
            what: 'port',
            expected: `an integer 1..65535; omit Port for the default ${UDP_DEFAULT_PORT}`,
          }),
        },
        defaulted: false,
      };
  }
}

function backendType(backend: JsonFields): (typeof SUPPORTED_BACKENDS)[number] {
  const expected = `${SUPPORTED_TEXT}; ${UPSTREAM_ONLY_TEXT}`;
  const raw = backend.string('Type', expected);
  if (raw === undefined) throw backend.error('Type', { problem: 'missing', expected });
  // Upstream lower-cases the type before looking the backend up.
  const type = raw.toLowerCase();
  if ((SUPPORTED_BACKENDS as readonly string[]).includes(type)) return type as (typeof SUPPORTED_BACKENDS)[number];
  if ((UPSTREAM_ONLY_BACKENDS as readonly string[]).includes(type)) {
    throw backend.error('Type', {
      value: raw,
      problem: 'is an upstream flannel backend not supported by flannel-ts yet',
      expected: SUPPORTED_TEXT,
    });
  }
  throw backend.error('Type', { value: raw, problem: 'is not a known backend type', expected });
}

function parseVxlan(backend: JsonFields): BackendConfig {
  const mtu = backend.int('MTU', 0, { min: 0, max: 65535, what: 'MTU', expected: MTU_EXPECTED });
  // 0 means "the interface's MTU" (upstream's default); anything else must be a usable link MTU.
  if (mtu > 0 && mtu < MTU_MIN) throw backend.error('MTU', { value: mtu, problem: 'is not a valid MTU', expected: MTU_EXPECTED });
  return {
    type: 'vxlan',
    vni: backend.int('VNI', VXLAN_DEFAULT_VNI, { min: 0, max: VNI_MAX, what: 'VNI' }),
    port: backend.int('Port', 0, {
      min: 0,
      max: 65535,
      what: 'port',
      expected: 'an integer 1..65535, or 0 for the kernel default 8472',
    }),
    mtu,
    gbp: backend.bool('GBP', false),
    learning: backend.bool('Learning', false),
    directRouting: backend.bool('DirectRouting', false),
  };
}
