// Time left for the whole pipeline. Each stage has an a-priori estimate in seconds (from its amount of
// work at a nominal speed); as stages finish, the ratio of measured to estimated time calibrates the
// estimates of the stages still to come, so a slow or busy machine is accounted for after the first
// stage. Within a stage, once a tenth of it is done, its own measured rate predicts its remainder.

export interface EtaStage {
  /** A-priori estimate, seconds. */
  estimate: number;
  /** Measured seconds, once finished in this invocation; stages done earlier or skipped have none. */
  measured?: number;
  done: boolean;
}

/** Ratio measured / estimated over the stages this invocation ran, clamped: one odd stage must not swing it wildly. */
export function calibration(stages: readonly EtaStage[]): number {
  let est = 0;
  let meas = 0;
  for (const s of stages) {
    if (s.measured === undefined || s.estimate <= 0) continue;
    est += s.estimate;
    meas += s.measured;
  }
  if (est < 1) return 1;
  return Math.min(5, Math.max(0.2, meas / est));
}

/**
 * Seconds left: the running stage's remainder plus the calibrated estimates of the stages after it.
 * current: index of the running stage, the fraction of it done and the seconds it has run.
 */
export function secondsLeft(stages: readonly EtaStage[], current: { index: number; fraction: number; elapsed: number } | null): number {
  const k = calibration(stages);
  let left = 0;
  for (const [i, s] of stages.entries()) {
    if (s.done) continue;
    if (current && i === current.index) {
      const f = Math.min(1, Math.max(0, current.fraction));
      const byEstimate = Math.max(0, s.estimate * k - current.elapsed);
      left += f >= 0.1 ? (current.elapsed / f) * (1 - f) : byEstimate;
    } else {
      left += s.estimate * k;
    }
  }
  return left;
}

/** "45 s", "3 min", "1 h 5 min". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
