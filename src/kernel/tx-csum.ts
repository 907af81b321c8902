import { errorText } from '../util/errors.ts';
import { getSystemErrorName } from 'node:util';
import { loadNodecheck } from '../native/nodecheck-native.ts';
import { olderThan, type KernelVersion } from './release.ts';

/*
 * The VXLAN checksum-offload bug: kernels before 5.7 (fixed by commit ea64d8d6) compute a wrong
 * UDP checksum for encapsulated packets when the vxlan device offloads tx checksums and
 * `MASQUERADE --random-fully` (kube-proxy 1.17+) rewrites the packet. The receiver drops them
 * (`UDP: bad checksum ... :8472` in its dmesg), and Service traffic to another node stalls for
 * about 63 s of SYN retries. The workaround is `ethtool -K flannel.1 tx-checksum-ip-generic
 * off`; upstream flannel never applied it (flannel PR #1282 was closed, PR #1929 documents a
 * udev rule).
 */

/** --vxlan-csum-offload: auto (off on kernels < 5.7), off, on. */
export type CsumOffloadMode = 'auto' | 'off' | 'on';

export const CSUM_OFFLOAD_MODES: readonly CsumOffloadMode[] = ['auto', 'off', 'on'];

/** The first kernel with the fix. */
export const CSUM_FIXED_IN = { major: 5, minor: 7 } as const;

export interface CsumPolicy {
  /** What the daemon makes of flannel.N: 'off' or 'on' set through ethtool; undefined leaves the kernel's default. */
  readonly want: 'off' | 'on' | undefined;
  /** Why, in words for logs and the doctor. */
  readonly reason: string;
}

/** Whether this kernel has the bug (undefined kernel version: assume it may). */
export function kernelHasCsumBug(kernel: KernelVersion | undefined): boolean {
  return kernel === undefined || olderThan(kernel, CSUM_FIXED_IN.major, CSUM_FIXED_IN.minor);
}

/** Resolves the flag against the running kernel. */
export function csumPolicy(mode: CsumOffloadMode, kernel: KernelVersion | undefined): CsumPolicy {
  const k = kernel?.text ?? 'unknown';
  switch (mode) {
    case 'off':
      return { want: 'off', reason: '--vxlan-csum-offload=off' };
    case 'on':
      return { want: 'on', reason: '--vxlan-csum-offload=on' };
    case 'auto':
      return kernelHasCsumBug(kernel)
        ? { want: 'off', reason: `--vxlan-csum-offload=auto: kernel ${k} is older than 5.7 (VXLAN checksum bug with --random-fully)` }
        : { want: undefined, reason: `--vxlan-csum-offload=auto: kernel ${k} has the fix (5.7+), offload left as the kernel set it` };
  }
}

/** The value `flannel_config_info{vxlan_csum_offload}` shows: what the daemon makes of the device. */
export function csumLabel(policy: CsumPolicy | undefined): string {
  if (policy === undefined) return '';
  return policy.want ?? 'on';
}

/** Tx checksum offload of a device could not be read or set. */
export class TxCsumError extends Error {
  override readonly name = 'TxCsumError';
  readonly code: string;
  constructor(op: string, ifname: string, errno: number) {
    const code = errnoName(errno);
    super(`ethtool ${op} tx-checksum ${ifname}: ${code}`);
    this.code = code;
  }
}

/** A netns name under /run/netns, or a path; null for this process's namespace. */
function nsPath(netns: string | undefined): string | null {
  return netns === undefined ? null : netns.includes('/') ? netns : `/run/netns/${netns}`;
}

/** Reads tx checksum offload (true = on) of `ifname`, in `netns` (a name or path) when given. */
export function readTxCsum(ifname: string, netns?: string): boolean {
  const r = loadNodecheck().ethtoolTxCsum(nsPath(netns), ifname, -1);
  if (r < 0) throw new TxCsumError('get', ifname, -r);
  return r === 1;
}

/** Sets tx checksum offload of `ifname` when it differs; returns true when it changed something. */
export function ensureTxCsum(ifname: string, on: boolean, netns?: string): boolean {
  const nat = loadNodecheck();
  const path = nsPath(netns);
  const before = nat.ethtoolTxCsum(path, ifname, -1);
  if (before < 0) throw new TxCsumError('get', ifname, -before);
  if ((before === 1) === on) return false;
  const after = nat.ethtoolTxCsum(path, ifname, on ? 1 : 0);
  if (after < 0) throw new TxCsumError('set', ifname, -after);
  if ((after === 1) !== on) throw new Error(`ethtool set tx-checksum ${ifname} ${on ? 'on' : 'off'}: the kernel kept it ${after === 1 ? 'on' : 'off'}`);
  return true;
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-Math.abs(errno));
  } catch {
    return `errno ${errno}`;
  }
}

/**
 * Keeps tx checksum offload of the vxlan device as `want` (the vxlan backend calls it each time
 * it ensures the device, so a re-created device or a hand-made change is corrected within a
 * reconcile). Logs each change; a device or kernel that refuses is logged once via `warnOnce`
 * and does not stop the backend: the overlay works without the workaround, only slower Service
 * traffic on buggy kernels.
 */
export function keepTxCsum(ifname: string, want: 'on' | 'off', log: { info(msg: string): void }, warnOnce: { warn(key: string, msg: string): void }): void {
  try {
    if (ensureTxCsum(ifname, want === 'on')) log.info(`${ifname}: tx checksum offload set ${want} (tx-checksum-ip-generic)`);
  } catch (e) {
    warnOnce.warn(`tx-csum ${ifname}`, `${ifname}: cannot set tx checksum offload ${want}: ${errorText(e)}`);
  }
}
