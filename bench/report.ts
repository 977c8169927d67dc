/** Turns a benny summary into rows of ops/s and microseconds per operation (one 20 ms frame). */
export interface MicroResult {
  suite: string;
  case: string;
  opsPerSec: number;
  usPerOp: number;
  marginPct: number;
  samples: number;
}

interface BennySummary {
  results: { name: string; ops: number; margin: number; samples: number }[];
}

export function microTable(suite: string, summary: unknown): MicroResult[] {
  return (summary as BennySummary).results.map((r) => ({
    suite,
    case: r.name,
    opsPerSec: Math.round(r.ops),
    usPerOp: Number((1e6 / r.ops).toFixed(3)),
    marginPct: r.margin,
    samples: r.samples,
  }));
}
