import type { BackendConfig } from '../config/types.ts';
import { openMonitor } from '../netlink/index.ts';
import type { Backend } from './backend.ts';
import type { BackendContext, OpenDriftMonitor } from './context.ts';
import { HostGwBackend } from './hostgw/backend.ts';
import { VxlanBackend } from './vxlan/backend.ts';
import { UdpBackend } from './udp/backend.ts';

export type { BackendContext } from './context.ts';

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
      return new UdpBackend(ctx, config);
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
