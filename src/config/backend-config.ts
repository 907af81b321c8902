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
/** IPv4's minimum link MTU (RFC 791); the kernel refuses a smaller one for flannel.N. */
const MTU_MIN = 68;
/** flannel.N gets the base MTU minus this (pkg/backend/vxlan/device.go). */
const VXLAN_OVERHEAD = 50;
const MTU_EXPECTED = `an integer ${MTU_MIN + VXLAN_OVERHEAD}..65535 (flannel.N gets MTU − ${VXLAN_OVERHEAD}, at least ${MTU_MIN}), or 0 for the external interface's MTU`;
/** Any integer: the range is checked after, where upstream's reading of it is known. */
const ANY_INT = { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER } as const;

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
      return { backend: { type: 'udp', port: udpPort(backend) }, defaulted: false };
  }
}

/** Outside 0..65535 upstream's listen fails; 0 makes it listen on a random port (upstream-accepts.ts). */
function udpPort(backend: JsonFields): number {
  const expected = `an integer 1..65535; omit Port for the default ${UDP_DEFAULT_PORT}`;
  const port = backend.int('Port', UDP_DEFAULT_PORT, { min: 0, max: 65535, what: 'port', expected });
  if (port !== 0) return port;
  backend.accept('udp-port-zero', 'Port', { value: 0, problem: 'is not a usable port', expected }, `flannel-ts uses the default ${UDP_DEFAULT_PORT}`);
  return UDP_DEFAULT_PORT;
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
  return {
    type: 'vxlan',
    // The kernel refuses a VNI of 2^24 or more (upstream fails creating the device).
    vni: backend.int('VNI', VXLAN_DEFAULT_VNI, { min: 0, max: VNI_MAX, what: 'VNI' }),
    port: vxlanPort(backend),
    mtu: vxlanMtu(backend),
    gbp: backend.bool('GBP', false),
    learning: backend.bool('Learning', false),
    directRouting: backend.bool('DirectRouting', false),
  };
}

/**
 * Upstream's netlink library sends the port as 16 bits when it is above 0 and leaves it out
 * otherwise (the kernel then uses 8472); flannel-ts reads it the same way, so nodes of both agree.
 */
function vxlanPort(backend: JsonFields): number {
  const expected = 'an integer 1..65535, or 0 for the kernel default 8472';
  const port = backend.int('Port', 0, { ...ANY_INT, what: 'port', expected });
  if (port >= 0 && port <= 65535) return port;
  const used = port < 0 ? 0 : port % 65536;
  backend.accept('vxlan-port', 'Port', { value: port, problem: 'is not a valid port', expected }, used === 0 ? 'the kernel default 8472 is used' : `port ${used} (${port} modulo 65536) is used, as upstream's`);
  return used;
}

/**
 * 0 means the external interface's MTU. A base MTU whose device MTU would be 1..67 the kernel
 * refuses (so does upstream's start); one of 50 or less upstream never sends to the kernel.
 */
function vxlanMtu(backend: JsonFields): number {
  const mtu = backend.int('MTU', 0, { ...ANY_INT, what: 'MTU', expected: MTU_EXPECTED });
  if (mtu === 0 || (mtu >= MTU_MIN + VXLAN_OVERHEAD && mtu <= 65535)) return mtu;
  if (mtu > VXLAN_OVERHEAD) throw backend.error('MTU', { value: mtu, problem: 'is not a valid MTU', expected: MTU_EXPECTED });
  backend.accept('vxlan-mtu', 'MTU', { value: mtu, problem: 'is not a valid MTU', expected: MTU_EXPECTED }, "flannel-ts uses the external interface's MTU, as for 0");
  return 0;
}
