/**
 * Reads one table of `iptables-save -t <table>` output: which chains exist and the rule bodies
 * of each chain, in order. Counters, comments lines and headers are dropped.
 */
export interface SavedTable {
  readonly chains: ReadonlySet<string>;
  /** chain → rule bodies (the text after `-A <chain> `). */
  readonly rules: ReadonlyMap<string, readonly string[]>;
}

export function parseSavedTable(text: string, table: string): SavedTable {
  const chains = new Set<string>();
  const rules = new Map<string, string[]>();
  let inTable = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      inTable = line.slice(1) === table;
      continue;
    }
    if (!inTable) continue;
    if (line === 'COMMIT') {
      inTable = false;
      continue;
    }
    if (line.startsWith(':')) {
      chains.add(line.slice(1).split(' ', 1)[0]!);
      continue;
    }
    // `-c pkts bytes` precedes -A when counters are saved (-c); we never ask for them, but be safe.
    const body = line.replace(/^\[\d+:\d+\]\s+/, '');
    const m = /^-A (\S+) ?(.*)$/.exec(body);
    if (m === null) continue;
    const chain = m[1]!;
    let list = rules.get(chain);
    if (list === undefined) rules.set(chain, (list = []));
    list.push(m[2]!);
  }
  return { chains, rules };
}
