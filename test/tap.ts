/**
 * Counting TAP results the same way in every runner (test/run.ts on the host, the Wine
 * runner for Windows), and the closing line CI reads.
 */
export interface Tally {
  passed: number;
  failed: number;
  skipped: number;
}

export function newTally(): Tally {
  return { passed: 0, failed: 0, skipped: 0 };
}

/** Counts one line of TAP output into the tally. */
export function countTapLine(line: string, tally: Tally): void {
  // tape reports a skipped assertion as `ok N ... # SKIP`, a whole skipped test as `# SKIP name`.
  if (/^ok \d+.*# SKIP/.test(line) || /^# SKIP /.test(line)) tally.skipped++;
  else if (/^ok \d+/.test(line)) tally.passed++;
  else if (/^not ok \d+/.test(line)) tally.failed++;
}

/** `N passed, N failed[, N skipped]`, optionally after one word and a colon. */
export function closingLine(tally: Tally, prefix = ''): string {
  const skipped = tally.skipped > 0 ? `, ${tally.skipped} skipped` : '';
  return `${prefix ? `${prefix}: ` : ''}${tally.passed} passed, ${tally.failed} failed${skipped}`;
}
