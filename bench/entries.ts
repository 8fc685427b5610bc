/** The entries of bench/results/latest*.json and how a target is judged and printed (pure: tested in test/unit/bench-entries.test.ts). */

/**
 * One figure of latest.json: `ratio` = value ÷ reference; `met` = ratio within `target` (null:
 * informational). `floor`: the target is a least ratio (met when ratio ≥ target), otherwise a most.
 * With no reference (`reference` and `ratio` null) a target applies to the value itself. A measurement
 * that failed has value and ratio null, met false, and `error`.
 */
export interface Entry {
  id: string;
  name: string;
  value: number | null;
  unit: string;
  reference: number | null;
  ratio: number | null;
  target: number | null;
  floor?: true;
  met: boolean | null;
  error?: string;
}

export const round = (x: number, digits = 3) => Number(x.toFixed(digits));

/** An entry; `extra` is a further condition of `met` (e.g. an absolute bound beside the ratio). */
export function entry(id: string, name: string, unit: string, value: number, reference: number | null, target: number | null, opts: { extra?: boolean; floor?: boolean } = {}): Entry {
  const ratio = reference === null ? null : value / reference;
  const judged = ratio ?? value;
  const within = target === null ? null : opts.floor ? judged >= target : judged <= target;
  return {
    id,
    name,
    value: round(value),
    unit,
    reference: reference === null ? null : round(reference),
    ratio: ratio === null ? null : round(ratio),
    target,
    ...(opts.floor ? { floor: true as const } : {}),
    met: within === null ? null : within && (opts.extra ?? true),
  };
}
export function failed(id: string, name: string, unit: string, reference: number | null, target: number | null, error: string, floor = false): Entry {
  return { id, name, value: null, unit, reference: reference === null ? null : round(reference), ratio: null, target, ...(floor ? { floor: true as const } : {}), met: target === null ? null : false, error: error.split('\n')[0]! };
}

/** The target as the table prints it: ≥ for a floor, ≤ otherwise; — when informational. */
export const targetText = (e: Pick<Entry, 'target' | 'floor'>) => (e.target === null ? '—' : `${e.floor ? '≥' : '≤'} ${e.target}`);
