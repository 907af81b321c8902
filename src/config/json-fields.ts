import { ConfigError, renderValue } from './config-error.ts';
import { JsonObject, type JsonValue } from './json-document.ts';
import { ConfigWarnings, type UpstreamAcceptsCheck } from './upstream-accepts.ts';

/**
 * Typed, case-insensitive access to one JSON object of a config document. Every reader names the
 * field in upstream's spelling (`Backend.VNI`) in its errors, whatever case the file used.
 */
export class JsonFields {
  private readonly obj: JsonObject;
  /** Path of this object within the document: '' at the top, 'Backend' inside it. */
  private readonly path: string;
  readonly source: string;
  /** Problems upstream accepts, so these readers accept them too (shared by nested objects). */
  readonly warnings: ConfigWarnings;

  constructor(obj: JsonObject, path: string, source: string, warnings: ConfigWarnings = new ConfigWarnings()) {
    this.obj = obj;
    this.path = path;
    this.source = source;
    this.warnings = warnings;
  }

  /** The dotted path of a field in this object, for messages. */
  fieldPath(name: string): string {
    return this.path === '' ? name : `${this.path}.${name}`;
  }

  /**
   * The raw value of a field, or undefined when absent. A field set by two keys (also when they
   * differ only in case) is the last one, as in upstream's decoder, with a warning: a reader of
   * the file cannot tell which one counts.
   */
  get(name: string): JsonValue | undefined {
    const hits = this.obj.matching(name);
    if (hits.length > 1) {
      const keys = hits.map(([k]) => JSON.stringify(k)).join(' and ');
      const [lastKey, last] = hits[hits.length - 1]!;
      this.accept('duplicate-key', name, {
        problem: `is set more than once, by keys ${keys}`,
        expected: 'each field once; keys match case-insensitively, as in upstream flannel',
      }, `the last one, ${JSON.stringify(lastKey)}: ${renderValue(last)}, counts`);
      return last;
    }
    return hits[0]?.[1];
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.get(name);
    if (v === undefined) return fallback;
    if (v === null) return this.nullIsAbsent(name, fallback, 'a boolean', 'true or false');
    if (typeof v !== 'boolean') throw this.error(name, { value: v, problem: 'is not a boolean', expected: 'true or false' });
    return v;
  }

  /** An integer in [min, max]; `what` names it in the message ("is not a valid VNI"). */
  int(name: string, fallback: number, range: { min: number; max: number; what: string; expected?: string }): number {
    const v = this.get(name);
    if (v === undefined) return fallback;
    if (v === null) return this.nullIsAbsent(name, fallback, 'a number', range.expected ?? `an integer ${range.min}..${range.max}`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < range.min || v > range.max) {
      throw this.error(name, {
        value: v,
        problem: `is not a valid ${range.what}`,
        expected: range.expected ?? `an integer ${range.min}..${range.max}`,
      });
    }
    return v;
  }

  /** A string, or undefined when absent; `expected` describes the accepted form. */
  string(name: string, expected: string): string | undefined {
    const v = this.get(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw this.error(name, { value: v, problem: 'is not a string', expected });
    return v;
  }

  /** A nested object, or undefined when absent. */
  object(name: string, expected: string): JsonFields | undefined {
    const v = this.get(name);
    if (v === undefined) return undefined;
    if (!(v instanceof JsonObject)) throw this.error(name, { value: v, problem: 'is not an object', expected });
    return new JsonFields(v, this.fieldPath(name), this.source, this.warnings);
  }

  error(name: string, detail: { value?: unknown; problem: string; expected: string; check?: UpstreamAcceptsCheck }): ConfigError {
    return new ConfigError({ source: this.source, field: this.fieldPath(name), ...detail });
  }

  /** A problem upstream accepts: recorded as a warning (upstream-accepts.ts); `outcome` says what is used. */
  accept(check: UpstreamAcceptsCheck, name: string, detail: { value?: unknown; problem: string; expected: string }, outcome: string): void {
    this.warnings.accept(check, this.error(name, detail), outcome);
  }

  /** null for a number or boolean: Go's decoder leaves the field as it was, so it is the default. */
  private nullIsAbsent<T>(name: string, fallback: T, kind: string, expected: string): T {
    this.accept('null-value', name, { value: null, problem: `is not ${kind}`, expected }, `the default, ${JSON.stringify(fallback)}, is used`);
    return fallback;
  }
}

