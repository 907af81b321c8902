import { createHistogram } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/**
 * How often the event loop is sampled. prom-client samples every 10 ms, which wakes an idle
 * daemon 100 times a second (~0.2 s of CPU a minute, bench/scale.ts); at 100 ms a stall of
 * 100 ms or more is always seen, a shorter one in proportion to its length.
 */
export const EVENT_LOOP_RESOLUTION_MS = 100;

/** prom-client's histogram-based lag gauges, which this module replaces. */
const REPLACED = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;
type Stat = (typeof REPLACED)[number];
const HELP: Record<Stat, string> = {
  min: 'minimum',
  max: 'maximum',
  mean: 'mean',
  stddev: 'standard deviation of the',
  p50: '50th percentile of the',
  p90: '90th percentile of the',
  p99: '99th percentile of the',
};

/**
 * The nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds gauges of
 * collectDefaultMetrics, from a timer every EVENT_LOOP_RESOLUTION_MS that records how much later
 * than due it ran. prom-client's come from Node's monitorEventLoopDelay, which records the whole
 * interval between samples (an idle loop reads the resolution as lag) and, reset at every
 * scrape as prom-client does, forgets the interval in progress (a stall right after a scrape is
 * not seen). Call after collectDefaultMetrics (whose own histogram is then unused: give it a
 * coarse eventLoopMonitoringPrecision). Like prom-client's, each scrape reads the samples since
 * the previous one.
 */
export function replaceEventLoopLag(registry: Registry): void {
  const histogram = createHistogram();
  let prev = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const lateNs = Math.round((now - prev - EVENT_LOOP_RESOLUTION_MS) * 1e6);
    prev = now;
    histogram.record(Math.max(1, lateNs)); // a recordable histogram takes integers ≥ 1
  }, EVENT_LOOP_RESOLUTION_MS);
  timer.unref();
  const read: Record<Stat, () => number> = {
    min: () => histogram.min,
    max: () => histogram.max,
    mean: () => histogram.mean,
    stddev: () => histogram.stddev,
    p50: () => histogram.percentile(50),
    p90: () => histogram.percentile(90),
    p99: () => histogram.percentile(99),
  };
  for (const stat of REPLACED) {
    const name = `nodejs_eventloop_lag_${stat}_seconds`;
    registry.removeSingleMetric(name);
    new Gauge({
      name,
      help: `The ${HELP[stat]} event loop delay since the last scrape, sampled every ${EVENT_LOOP_RESOLUTION_MS} ms.`,
      registers: [registry],
      collect() {
        // A scrape with no sample yet reads 0, not NaN.
        this.set(histogram.count === 0 ? 0 : read[stat]() / 1e9);
        if (stat === 'p99') histogram.reset(); // the last of the seven in the exposition
      },
    });
  }
}
