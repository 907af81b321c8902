import { readFileSync, writeFileSync } from 'node:fs';
import { isErrno } from '../util/errors.ts';

/** A per-device sysctl file in this process's network namespace, e.g. net/ipv6/conf/flannel.1/accept_ra. */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key}`;
}

/**
 * Sets a sysctl by writing its file (src/ never spawns sysctl), only when it differs. Returns
 * 'ok' when it holds `value` afterwards, 'absent' when the file does not exist (no IPv6 in this
 * kernel, the device is gone), or the errno code of a failed write (EROFS in a container with a
 * read-only /proc/sys, EACCES without privilege), for the caller to log once.
 */
export function setSysctl(key: string, value: string, path: string = sysctlPath(key)): 'ok' | 'absent' | string {
  try {
    if (readFileSync(path, 'utf8').trim() === value) return 'ok';
    writeFileSync(path, value);
    return 'ok';
  } catch (e) {
    const code = isErrno(e) ? e.code : 'EIO';
    return code === 'ENOENT' ? 'absent' : code;
  }
}
