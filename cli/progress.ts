import cliProgress from 'cli-progress';

/** A progress bar on a terminal, a line per step otherwise (CI logs, pipes). */
export function progressBar(label: string, total: number, unit = 'records'): { update(done: number): void; stop(): void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} ${unit} | {eta_formatted} left`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
    bar.start(total, 0);
    return { update: (done) => bar.update(done), stop: () => bar.stop() };
  }
  let last = -1;
  return {
    update(done) {
      const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
      if (pct !== last && (pct % 10 === 0 || done === total)) process.stderr.write(`${label}: ${done}/${total} ${unit} (${pct}%)\n`);
      last = pct;
    },
    stop() {},
  };
}
