import { describe, expect, it } from 'vitest';
import { createMetrics, METRIC_DOCS, type ReconcileStats, type SubnetStats, type UdpStats } from '../../../src/observe/metrics.ts';

/** The value of one sample line `name{labels} value` in the exposition text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const quiet = () => createMetrics({ version: '0.1.0-test', defaultMetrics: false });

describe('createMetrics', () => {
  it('registers every documented metric with its help text and type, and nothing else flannel_*', async () => {
    const text = await quiet().scrape();
    for (const m of METRIC_DOCS) {
      expect(text).toContain(`# HELP ${m.name} ${m.help}`);
      expect(text).toContain(`# TYPE ${m.name} ${m.type}`);
    }
    const helped = [...text.matchAll(/^# HELP (flannel_\w+)/gm)].map((x) => x[1]);
    expect(helped.sort()).toEqual(METRIC_DOCS.map((m) => m.name).sort());
  });

  it('follows Prometheus naming: counters end in _total, base units, snake case', () => {
    for (const m of METRIC_DOCS) {
      expect(m.name).toMatch(/^flannel_[a-z0-9_]+$/);
      expect(m.name.endsWith('_total')).toBe(m.type === 'counter');
      expect(m.name).not.toMatch(/_(ms|milliseconds|kilobytes|minutes)(_|$)/);
      for (const l of m.labels) expect(l).toMatch(/^[a-z][a-z0-9_]*$/);
    }
  });

  it('uses its own registry, and process metrics are on it by default', async () => {
    const a = createMetrics({ version: 'x' });
    const b = createMetrics({ version: 'y' });
    expect(a.registry).not.toBe(b.registry);
    const text = await a.scrape();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('nodejs_heap_size_used_bytes');
    expect(sample(text, 'flannel_build_info{version="x",nodejs="' + process.versions.node + '"}')).toBe(1);
  });

  it('reads udp counters from the stats object at scrape time', async () => {
    const m = quiet();
    const udp = { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, drops: {} as Record<string, number> } satisfies UdpStats;
    m.addSource('udp', () => udp);
    udp.packetsIn = 10;
    udp.bytesIn = 1400;
    udp.packetsOut = 3;
    udp.drops['no-route'] = 2;
    let text = await m.scrape();
    expect(sample(text, 'flannel_udp_packets_total{direction="in"}')).toBe(10);
    expect(sample(text, 'flannel_udp_packets_total{direction="out"}')).toBe(3);
    expect(sample(text, 'flannel_udp_bytes_total{direction="in"}')).toBe(1400);
    expect(sample(text, 'flannel_udp_bytes_total{direction="out"}')).toBe(0);
    expect(sample(text, 'flannel_udp_dropped_packets_total{reason="no-route"}')).toBe(2);
    udp.packetsIn = 25;
    text = await m.scrape();
    expect(sample(text, 'flannel_udp_packets_total{direction="in"}')).toBe(25);
  });

  it('keeps counters monotonic when a source is replaced by one that counts from zero', async () => {
    const m = quiet();
    const stats = (runs: number, errors: Record<string, number>): ReconcileStats => ({
      runs, errors, driftRepairs: {}, kernelEntries: {}, peersNotOnLink: 0, lastSuccessMs: 0,
    });
    m.addSource('reconcile', () => stats(7, { netlink: 2 }));
    expect(sample(await m.scrape(), 'flannel_reconcile_runs_total')).toBe(7);
    // The backend was switched: a new reconcile loop, new stats from zero.
    m.addSource('reconcile', () => stats(3, { netlink: 1 }));
    let text = await m.scrape();
    expect(sample(text, 'flannel_reconcile_runs_total')).toBe(10);
    expect(sample(text, 'flannel_reconcile_errors_total{reason="netlink"}')).toBe(3);
    // A source that restarts its counts in place (same function, smaller value).
    let runs = 4;
    m.addSource('reconcile', () => stats(runs, {}));
    expect(sample(await m.scrape(), 'flannel_reconcile_runs_total')).toBe(14);
    runs = 1;
    expect(sample(await m.scrape(), 'flannel_reconcile_runs_total')).toBe(15);
  });

  it('keeps what a source counted after the last scrape when it is replaced or removed', async () => {
    const m = quiet();
    const old = { resyncs: 1, unchanged: 0, repairs: 0 };
    const dispose = m.addSource('traffic', () => old);
    expect(sample(await m.scrape(), 'flannel_iptables_resyncs_total')).toBe(1);
    old.resyncs = 4; // counted, not yet scraped
    m.addSource('traffic', () => ({ resyncs: 2, unchanged: 1, repairs: 0 }));
    dispose(); // a late dispose of the replaced source changes nothing
    expect(sample(await m.scrape(), 'flannel_iptables_resyncs_total')).toBe(6);
    const udp = { packetsIn: 3, packetsOut: 0, bytesIn: 0, bytesOut: 0, drops: {} };
    const removeUdp = m.addSource('udp', () => udp);
    udp.packetsIn = 8;
    removeUdp();
    expect(sample(await m.scrape(), 'flannel_udp_packets_total{direction="in"}')).toBe(8);
  });

  it('drops gauge series with their source, but a dispose of a replaced source is a no-op', async () => {
    const m = quiet();
    const first = m.addSource('reconcile', () => ({
      runs: 1, errors: {}, driftRepairs: { route: 1 }, kernelEntries: { route: 2, neigh: 2, fdb: 2 }, peersNotOnLink: 1, lastSuccessMs: 1_700_000_000_000,
    }));
    let text = await m.scrape();
    expect(sample(text, 'flannel_kernel_entries{type="fdb"}')).toBe(2);
    expect(sample(text, 'flannel_hostgw_peers_not_on_link')).toBe(1);
    expect(sample(text, 'flannel_drift_repairs_total{object="route"}')).toBe(1);
    expect(sample(text, 'flannel_last_reconcile_success_timestamp_seconds')).toBe(1_700_000_000);

    const second = m.addSource('reconcile', () => ({
      runs: 0, errors: {}, driftRepairs: {}, kernelEntries: { route: 3 }, peersNotOnLink: 0, lastSuccessMs: 0,
    }));
    first();
    text = await m.scrape();
    expect(sample(text, 'flannel_kernel_entries{type="route"}')).toBe(3);
    expect(sample(text, 'flannel_kernel_entries{type="fdb"}')).toBeUndefined();
    // The last success survives the switch until the new backend succeeds.
    expect(sample(text, 'flannel_last_reconcile_success_timestamp_seconds')).toBe(1_700_000_000);
    second();
    text = await m.scrape();
    expect(sample(text, 'flannel_kernel_entries{type="route"}')).toBeUndefined();
    expect(sample(text, 'flannel_drift_repairs_total{object="route"}')).toBe(1);
  });

  it('reports subnet manager counts and peers by backend as they come and go', async () => {
    const m = quiet();
    const s = { watchRestarts: { expiry: 0, error: 0 } as Record<string, number>, relists: 1, peersSkipped: {} as Record<string, number>, peersByBackend: { vxlan: 2 } as Record<string, number> } satisfies SubnetStats;
    m.addSource('subnet', () => s);
    let text = await m.scrape();
    expect(sample(text, 'flannel_peers{backend="vxlan"}')).toBe(2);
    expect(sample(text, 'flannel_kube_relists_total')).toBe(1);
    expect(sample(text, 'flannel_kube_watch_restarts_total{reason="expiry"}')).toBe(0);
    expect(sample(text, 'flannel_kube_watch_restarts_total{reason="error"}')).toBe(0);
    s.peersByBackend = { vxlan: 1, 'host-gw': 1 };
    s.peersSkipped['backend-data'] = 4;
    s.watchRestarts = { expiry: 3, error: 2 };
    text = await m.scrape();
    expect(sample(text, 'flannel_peers{backend="vxlan"}')).toBe(1);
    expect(sample(text, 'flannel_peers{backend="host-gw"}')).toBe(1);
    expect(sample(text, 'flannel_peers_skipped_total{reason="backend-data"}')).toBe(4);
    expect(sample(text, 'flannel_kube_watch_restarts_total{reason="expiry"}')).toBe(3);
    expect(sample(text, 'flannel_kube_watch_restarts_total{reason="error"}')).toBe(2);
  });

  it('sets lease and config info, counts reload errors, observes reconcile durations', async () => {
    const m = quiet();
    m.setLease({ subnet: '10.244.1.0/24', backend: 'vxlan', publicIp: '198.18.0.2', node: 'n1' });
    m.setConfig({ network: '10.244.0.0/16', backend: 'vxlan', enableNFTables: false, vxlanCsumOffload: 'off' });
    m.configReloadFailed();
    m.observeReconcileDuration(0.003);
    m.observeReconcileDuration(2);
    m.addSource('traffic', () => ({ resyncs: 9, unchanged: 7, repairs: 1 }));
    let text = await m.scrape();
    expect(sample(text, 'flannel_lease_info{subnet="10.244.1.0/24",backend="vxlan",public_ip="198.18.0.2",node="n1"}')).toBe(1);
    // The iptables backend is known only once the rules are set up, after the config.
    expect(sample(text, 'flannel_config_info{network="10.244.0.0/16",backend="vxlan",nftables="false",iptables="",vxlan_csum_offload="off"}')).toBe(1);
    m.setIptablesBackend('legacy');
    text = await m.scrape();
    expect(text.match(/^flannel_config_info\{/gm)).toHaveLength(1);
    expect(sample(text, 'flannel_config_info{network="10.244.0.0/16",backend="vxlan",nftables="false",iptables="legacy",vxlan_csum_offload="off"}')).toBe(1);
    expect(sample(text, 'flannel_config_reload_errors_total')).toBe(1);
    expect(sample(text, 'flannel_reconcile_duration_seconds_count')).toBe(2);
    expect(sample(text, 'flannel_reconcile_duration_seconds_bucket{le="0.005"}')).toBe(1);
    expect(sample(text, 'flannel_reconcile_duration_seconds_sum')).toBeCloseTo(2.003);
    expect(sample(text, 'flannel_iptables_resyncs_total')).toBe(9);
    expect(sample(text, 'flannel_iptables_resyncs_unchanged_total')).toBe(7);
    expect(sample(text, 'flannel_iptables_rule_repairs_total')).toBe(1);
    m.setLease({ subnet: '10.244.1.0/24', backend: 'host-gw', publicIp: '198.18.0.2', node: 'n1' });
    text = await m.scrape();
    expect(text.match(/^flannel_lease_info\{/gm)).toHaveLength(1);
    expect(text).toContain('backend="host-gw"');
    m.setLease(null);
    expect((await m.scrape()).match(/^flannel_lease_info\{/gm)).toBeNull();
  });
});

describe('event loop lag', () => {
  const lagMax = async (m: ReturnType<typeof createMetrics>): Promise<number> =>
    Number(/^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(await m.registry.metrics())?.[1]);

  it('reports a stall as the delay beyond the sampling interval, including one right after a scrape', async () => {
    const m = createMetrics({ version: 'x' });
    await new Promise((r) => setTimeout(r, 250));
    await lagMax(m);
    const end = Date.now() + 300;
    while (Date.now() < end); // the loop blocked for 300 ms
    await new Promise((r) => setTimeout(r, 250));
    const max = await lagMax(m);
    expect(max).toBeGreaterThan(0.15);
    expect(max).toBeLessThan(1);
  });
});

describe('peer health metrics', () => {
  it('counts without per-peer labels, and observes round trips', async () => {
    const m = quiet();
    const p = { peersProbed: 5000, unreachable: 2, probesAnswered: 10, probesUnanswered: 6, toUnreachable: 2, toReachable: 0 };
    m.addSource('peerHealth', () => p);
    m.observePeerProbeRtt(0.0003);
    m.observePeerProbeRtt(0.02);
    let text = await m.scrape();
    expect(sample(text, 'flannel_peer_health_peers_probed')).toBe(5000);
    expect(sample(text, 'flannel_peer_health_unreachable_peers')).toBe(2);
    expect(sample(text, 'flannel_peer_health_probes_total{result="answered"}')).toBe(10);
    expect(sample(text, 'flannel_peer_health_probes_total{result="unanswered"}')).toBe(6);
    expect(sample(text, 'flannel_peer_health_transitions_total{to="unreachable"}')).toBe(2);
    expect(sample(text, 'flannel_peer_health_transitions_total{to="reachable"}')).toBe(0);
    expect(sample(text, 'flannel_peer_health_rtt_seconds_count')).toBe(2);
    expect(sample(text, 'flannel_peer_health_rtt_seconds_bucket{le="0.0005"}')).toBe(1);
    // 5000 peers, and still one series per metric and label value: nothing names a peer.
    expect(text.split('\n').filter((l) => l.startsWith('flannel_peer_health_') && !l.startsWith('flannel_peer_health_rtt_seconds_bucket'))).toHaveLength(8);
    p.unreachable = 0;
    p.toReachable = 2;
    text = await m.scrape();
    expect(sample(text, 'flannel_peer_health_unreachable_peers')).toBe(0);
    expect(sample(text, 'flannel_peer_health_transitions_total{to="reachable"}')).toBe(2);
  });

  it('labels the config with vxlan_csum_offload, empty when not given', async () => {
    const m = quiet();
    m.setConfig({ network: '10.244.0.0/16', backend: 'host-gw', enableNFTables: true });
    expect(sample(await m.scrape(), 'flannel_config_info{network="10.244.0.0/16",backend="host-gw",nftables="true",iptables="",vxlan_csum_offload=""}')).toBe(1);
  });
});

describe('docs/metrics.md', () => {
  it('quotes the metrics table exactly as the code defines it', async () => {
    const { readFile } = await import('node:fs/promises');
    const { metricsTableMarkdown } = await import('../../../src/observe/metrics.ts');
    const doc = await readFile(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');
    expect(doc).toContain(metricsTableMarkdown());
  });
});
