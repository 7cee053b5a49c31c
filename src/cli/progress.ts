// Progress bars for long work, on stderr, and only when stderr is a terminal: logs and CI output
// stay clean, and --json output on stdout is never touched.
import cliProgress from 'cli-progress';

export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

const silent: Progress = { update() {}, stop() {} };

/** format may use {bar} {percentage} {value} {total} {eta_formatted} and payload keys. */
export function progressBar(total: number, format: string, payload: Record<string, string | number> = {}): Progress {
  if (!process.stderr.isTTY || process.env['CI']) return silent;
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 50, fps: 5 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, payload);
  return {
    update: (value, p) => bar.update(value, p ?? {}),
    stop: () => bar.stop(),
  };
}
