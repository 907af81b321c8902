import type { MultiBackendView } from '../backends/multi/multi-backend.ts';

/**
 * What /readyz adds to its 200 body while the node runs backends besides the one it advertises
 * (a migration, or a mixed cluster): `backend host-gw; also vxlan (draining, 41 s left; 2 peers
 * advertise it)`. Undefined when the advertised backend runs alone.
 */
export function migrationNote(view: MultiBackendView, now: number): string | undefined {
  const others = view.backends.filter((b) => b.type !== view.advertised);
  if (others.length === 0) return undefined;
  const texts = others.map((b) => {
    const why: string[] = [];
    if (b.roles.includes('draining')) why.push(b.drainEndsAt === undefined ? 'draining' : `draining, ${Math.max(0, Math.ceil((b.drainEndsAt - now) / 1000))} s left`);
    if (b.peers > 0) why.push(`${b.peers} ${b.peers === 1 ? 'peer advertises' : 'peers advertise'} it`);
    return `${b.type} (${why.join('; ')})`;
  });
  return `backend ${view.advertised}; also ${texts.join(', ')}`;
}
