/**
 * The chaos soak (lab/soak/soak.ts): a lab of N nodes with an all-pairs ping matrix at 10/s per
 * pair and one TCP stream, faults from a seeded RNG one at a time (kernel, process, API, config),
 * and after each one an independent check that every node's kernel state is what the API objects
 * say. Prints a table per fault kind, RSS and event-loop lag, and the seed to replay the run.
 * Unlike the other benches it needs the whole lab (lab/lab.ts: namespaces, the API server double,
 * daemons, CNI), not only lab/harness/.
 *
 *   node_modules/.bin/node bench/soak.ts --minutes 30 --nodes 5 --backend vxlan --seed 1
 *     [--pods-per-node 2] [--faults route-deleted,sigkill,…] [--max-faults N]
 *     [--api-outage-s 60] [--sigstop-s 20] [--churn 100] [--pause-s 1-3] [--each-once] [--json FILE]
 *   node_modules/.bin/node bench/soak.ts --list        (the fault kinds)
 *
 * Exit status 1 when any invariant was violated or a daemon exited unexpectedly.
 * Needs root (namespaces); run it on a quiet machine.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Backend } from '../lab/soak/checker.ts';
import { FAULTS } from '../lab/soak/faults.ts';
import { randomSeed } from '../lab/soak/rng.ts';
import { formatResult, runSoak } from '../lab/soak/soak.ts';

const USAGE = `usage: node_modules/.bin/node bench/soak.ts --minutes 30 --nodes 5 --backend vxlan|host-gw|udp --seed 1
  [--pods-per-node 2] [--faults route-deleted,sigkill,…] [--max-faults N]
  [--api-outage-s 60] [--sigstop-s 20] [--churn 100] [--pause-s 1-3] [--each-once] [--json FILE]
node_modules/.bin/node bench/soak.ts --list    the fault kinds
Needs root. Exit status 1 when an invariant was violated or a daemon exited unexpectedly.`;

const { values } = parseArgs({
  options: {
    help: { type: 'boolean', short: 'h', default: false },
    minutes: { type: 'string', default: '5' },
    nodes: { type: 'string', default: '5' },
    backend: { type: 'string', default: 'vxlan' },
    seed: { type: 'string' },
    'pods-per-node': { type: 'string', default: '2' },
    faults: { type: 'string' },
    'max-faults': { type: 'string' },
    'api-outage-s': { type: 'string', default: '60' },
    'sigstop-s': { type: 'string', default: '20' },
    'pause-s': { type: 'string', default: '1-3' },
    churn: { type: 'string', default: '100' },
    'each-once': { type: 'boolean', default: false },
    json: { type: 'string' },
    list: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

if (values.list) {
  for (const f of FAULTS) console.log(`${f.kind.padEnd(22)} ${f.category.padEnd(8)} ${f.title}${(['vxlan', 'host-gw', 'udp'] as const).filter((b) => !f.applies(b)).map((b) => ` (not ${b})`).join('')}`);
  process.exit(0);
}

function num(name: string, text: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a non-negative number, got ${JSON.stringify(text)}`);
  return v;
}

const backend = values.backend as Backend;
if (!['vxlan', 'host-gw', 'udp'].includes(backend)) throw new Error(`--backend must be vxlan, host-gw or udp, got ${JSON.stringify(values.backend)}`);
const pause = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(values['pause-s']);
if (pause === null) throw new Error(`--pause-s must be MIN-MAX seconds, got ${JSON.stringify(values['pause-s'])}`);
const seed = values.seed !== undefined ? num('seed', values.seed) : randomSeed();

// Ctrl-C ends the run after the fault in progress, prints what it has and removes the lab.
const stop = new AbortController();
process.on('SIGINT', () => {
  if (stop.signal.aborted) process.exit(130);
  console.log('stopping after the fault in progress (Ctrl-C again to leave at once; the next lab test run sweeps the lab)');
  stop.abort();
});

const result = await runSoak({
  minutes: num('minutes', values.minutes),
  nodes: num('nodes', values.nodes),
  podsPerNode: num('pods-per-node', values['pods-per-node']),
  backend,
  seed,
  ...(values.faults !== undefined ? { faults: values.faults.split(',').map((s) => s.trim()) } : {}),
  ...(values['max-faults'] !== undefined ? { maxFaults: num('max-faults', values['max-faults']) } : {}),
  timings: {
    apiOutageMs: num('api-outage-s', values['api-outage-s']) * 1000,
    sigstopMs: num('sigstop-s', values['sigstop-s']) * 1000,
    churnNodes: Math.min(100, num('churn', values.churn)),
  },
  ...(values['each-once'] ? { schedule: 'each-once' as const } : {}),
  pauseMs: [Number(pause[1]) * 1000, Number(pause[2]) * 1000],
  log: (line) => console.log(line),
  signal: stop.signal,
});

console.log('');
console.log(formatResult(result));
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');
if (result.violations > 0 || result.exits.length > 0) process.exitCode = 1;
