import { fail, ok, warn, type Check } from '../check.ts';
import type { Gathered } from '../facts.ts';

/** Is flanneld running on this node, live and ready, and does it answer the doctor? */
export function checkDaemon(g: Gathered): Check[] {
  if (!g.daemon.ok) {
    return [
      fail(
        'daemon.running',
        `no answer from flanneld: ${g.daemon.error}; checking the node from files, the API and the kernel alone`,
        `start flanneld (kubectl -n kube-flannel get pods -o wide; kubectl logs); if it runs, give the doctor its --healthz-ip/--healthz-port`,
      ),
    ];
  }
  const d = g.daemon.value;
  const up = Math.max(0, Math.round((g.at.getTime() - Date.parse(d.startedAt)) / 1000));
  const who = `flanneld ${d.version} (pid ${d.pid}, up ${formatDuration(up)})`;
  if (!d.live.ok) return [fail('daemon.running', `${who}: ${d.live.body}`, 'the kubelet restarts it when the liveness probe fails; read its log (kubectl logs) for the stuck loop')];
  if (!d.ready.ok) return [warn('daemon.running', `${who}: ${d.ready.body}`, 'see the reason; /readyz turns 200 once every peer is programmed')];
  return [ok('daemon.running', `${who}: live and ready`)];
}

export function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}
