import { appendFileSync } from 'node:fs';

/**
 * One figure of docs/reliability.md (issue: hardening, 9.): hardening tests report what they tried and
 * what they saw here; `npm run test:hardening` sets LEDGER_HARDENING_REPORT to a file, runs them, and
 * writes the document from the figures. Without the variable (plain `npm test`) nothing is written.
 */
export interface HardeningFigure {
  /** The document's section: `inputs`, `faults`, `concurrency`, `access`, … */
  section: string;
  /** What was counted, in words: "fuzzed POST /records inputs", "acknowledged records lost", … */
  figure: string;
  value: number;
  /** The test file that measured it (its path from the repository root). */
  source: string;
}

export function reportFigure(f: HardeningFigure): void {
  const file = process.env.LEDGER_HARDENING_REPORT;
  if (!file) return;
  appendFileSync(file, JSON.stringify(f) + '\n');
}
