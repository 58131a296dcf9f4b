/** Medians with their spread, and the number formats of the report. */

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: readonly number[]): Spread | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** 3 significant digits, but never more than `maxDecimals` decimals. */
export function num(x: number, maxDecimals = 2): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  const decimals = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return x.toFixed(Math.min(decimals, maxDecimals)).replace(/^-0(\.0*)?$/, '0$1');
}

/** `41.2 (38.0–43.1)`; `–` when there is nothing. */
export function cell(s: Spread | null, maxDecimals = 2): string {
  if (s === null) return '–';
  if (s.n === 1) return num(s.median, maxDecimals);
  return `${num(s.median, maxDecimals)} (${num(s.min, maxDecimals)}–${num(s.max, maxDecimals)})`;
}

export function ratio(x: number | null | undefined, ref: number | null | undefined): string {
  if (x === null || x === undefined || ref === null || ref === undefined || ref === 0) return '–';
  return `${num(x / ref, 2)}×`;
}

/** rows rotated by k: each repetition starts with a different row. */
export function rotate<T>(items: readonly T[], k: number): T[] {
  const n = items.length;
  const s = ((k % n) + n) % n;
  return [...items.slice(s), ...items.slice(0, s)];
}
