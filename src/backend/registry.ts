import type { BackendConfig } from '../config/types.ts';
import { openMonitor } from '../netlink/index.ts';
import type { Backend } from './backend.ts';
import type { BackendContext, OpenDriftMonitor } from './context.ts';
import { HostGwBackend } from './hostgw/backend.ts';
import { VxlanBackend } from './vxlan/backend.ts';

export type { BackendContext } from './context.ts';

/** Thrown for a backend type this build does not have. */
export class UnknownBackendError extends Error {
  override readonly name = 'UnknownBackendError';
}

/**
 * Builds the backend named by net-conf.json's Backend.Type. Each backend is a case here so the
 * config type narrows; a new backend adds one case.
 */
export function createBackend(config: BackendConfig, ctx: BackendContext): Backend {
  switch (config.type) {
    case 'vxlan':
      return new VxlanBackend(ctx, config);
    case 'host-gw':
      return new HostGwBackend(ctx);
    case 'udp':
      // The udp backend (src/backend/udp/) registers here: `return new UdpBackend(ctx, config);`
      throw new UnknownBackendError('backend type udp is not wired into createBackend yet (src/backend/udp/)');
  }
}

/** The drift monitor every kernel backend wants, in the namespace `netns` (undefined = ours). */
export function driftMonitorFor(netns: string | undefined, onError?: (e: Error) => void): OpenDriftMonitor {
  return (onChange, onOverflow) =>
    openMonitor(
      {
        ...(netns === undefined ? {} : { netns }),
        groups: ['link', 'addr', 'route', 'neigh'],
        onOverflow,
        ...(onError === undefined ? {} : { onError }),
      },
      onChange,
    );
}
