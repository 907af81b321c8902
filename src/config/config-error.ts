/**
 * A configuration input that cannot be used. The message is one line naming the file, the field,
 * the value and what was expected, so an operator can fix the ConfigMap without reading code:
 * `net-conf.json: Backend.VNI: -1 is not a valid VNI (expected an integer 0..16777215)`.
 */
import type { UpstreamAcceptsCheck } from './upstream-accepts.ts';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The file or other origin of the document, e.g. `/etc/kube-flannel/net-conf.json`. */
  readonly source: string;
  /** Dotted field path with upstream's spelling (`Backend.VNI`); '' for the document as a whole. */
  readonly field: string;
  /** The offending value as parsed from JSON; undefined when the field is missing. */
  readonly value: unknown;
  /** What would have been accepted, in words. */
  readonly expected: string;
  /** Set when upstream flanneld does not make this check (upstream-accepts.ts): a warning, not a refusal, where it applies. */
  readonly check: UpstreamAcceptsCheck | undefined;

  constructor(detail: { source: string; field: string; value?: unknown; problem: string; expected: string; check?: UpstreamAcceptsCheck }) {
    super(oneLine(composeMessage(detail)));
    this.source = detail.source;
    this.field = detail.field;
    this.value = detail.value;
    this.expected = detail.expected;
    this.check = detail.check;
  }
}

function composeMessage(d: { source: string; field: string; value?: unknown; problem: string; expected: string }): string {
  const where = d.field === '' ? `${d.source}: ` : `${d.source}: ${d.field}: `;
  const what = 'value' in d ? `${renderValue(d.value)} ${d.problem}` : d.problem;
  return `${where}${what} (expected ${d.expected})`;
}

const MAX_VALUE_CHARS = 60;

/** JSON spelling, so a string "1" and a number 1 look different in the message; long values cut. */
export function renderValue(v: unknown): string {
  const text = v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v));
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : text;
}

/** Log lines and `kubectl logs` views break on embedded newlines; keep every message on one line. */
function oneLine(s: string): string {
  return s.replace(/\r?\n/g, '\\n');
}
