/**
 * Value syntax of Go's `flag` package, which upstream flanneld parses its command line with, so
 * that every value an existing manifest passes means the same thing here.
 */

/** strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False. */
export function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

// Go integer literal syntax as strconv.ParseInt(s, 0, 64) takes it: optional sign, 0x/0o/0b
// prefixes, a leading 0 for octal ("010" is 8), underscores only between digits.
const GO_INT_BASE0 = /^[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|0(?:_?[0-7])*|[1-9](?:_?\d)*)$/;
const GO_INT_BASE10 = /^[+-]?\d+$/;
const INT64_MAX = (1n << 63n) - 1n;

/**
 * A Go `int` flag value (base 0, 64-bit) or, with `decimalOnly`, klog's `-v` (base 10). Returns
 * undefined for a syntax error or a value outside int64.
 */
export function parseGoInt(s: string, decimalOnly = false): number | undefined {
  if (!(decimalOnly ? GO_INT_BASE10 : GO_INT_BASE0).test(s)) return undefined;
  const negative = s.startsWith('-');
  let body = s.replace(/^[+-]/, '').replaceAll('_', '');
  // BigInt() reads 0x/0o/0b itself; a bare leading 0 is Go's octal.
  if (!decimalOnly && /^0[0-7]+$/.test(body)) body = `0o${body.slice(1)}`;
  const magnitude = BigInt(body);
  if (magnitude > INT64_MAX + (negative ? 1n : 0n)) return undefined;
  return Number(negative ? -magnitude : magnitude);
}
