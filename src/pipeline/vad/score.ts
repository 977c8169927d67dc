/**
 * Scoring detected speech against labels: turn-level matching (each label matched by one turn with
 * start and end within tolerances) and frame-level precision/recall/F1. Pure; used by the fixture
 * tests and available to tools that tune the VAD.
 */
export interface Segment {
  readonly startMs: number;
  readonly endMs: number;
}

export interface TurnScore {
  /** Labels matched one-to-one by a turn within the tolerances. */
  readonly matched: number;
  readonly detected: number;
  readonly labelled: number;
  /** matched / detected: turns in gaps or split utterances lower it. */
  readonly precision: number;
  /** matched / labelled. */
  readonly recall: number;
  /** detected - label start, per matched label (ms). */
  readonly startErrorsMs: number[];
  /** detected - label end, per matched label (ms). */
  readonly endErrorsMs: number[];
}

export interface FrameScore {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
}

export function scoreTurns(
  detected: readonly Segment[],
  labels: readonly Segment[],
  tolerance: { startMs: number; endMs: number } = { startMs: 250, endMs: 500 },
): TurnScore {
  const used = new Set<number>();
  const startErrorsMs: number[] = [];
  const endErrorsMs: number[] = [];
  for (const label of labels) {
    const i = detected.findIndex(
      (d, j) =>
        !used.has(j) &&
        Math.abs(d.startMs - label.startMs) <= tolerance.startMs &&
        Math.abs(d.endMs - label.endMs) <= tolerance.endMs,
    );
    if (i < 0) continue;
    used.add(i);
    startErrorsMs.push(detected[i].startMs - label.startMs);
    endErrorsMs.push(detected[i].endMs - label.endMs);
  }
  const matched = used.size;
  return {
    matched,
    detected: detected.length,
    labelled: labels.length,
    precision: detected.length === 0 ? (labels.length === 0 ? 1 : 0) : matched / detected.length,
    recall: labels.length === 0 ? 1 : matched / labels.length,
    startErrorsMs,
    endErrorsMs,
  };
}

function covers(segments: readonly Segment[], t: number): boolean {
  for (const s of segments) if (t >= s.startMs && t < s.endMs) return true;
  return false;
}

/** Compare `frameMs` frames (by their centre) over [0, durationMs). */
export function scoreFrames(
  detected: readonly Segment[],
  labels: readonly Segment[],
  durationMs: number,
  frameMs = 10,
): FrameScore {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let t = frameMs / 2; t < durationMs; t += frameMs) {
    const truth = covers(labels, t);
    const said = covers(detected, t);
    if (truth && said) tp++;
    else if (said) fp++;
    else if (truth) fn++;
  }
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1 };
}
