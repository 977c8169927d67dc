/**
 * A carrier event's own time as ISO 8601, or our clock at receipt when it has none or an unreadable
 * one. Record times (answered, ended) are always our clock, the same clock as the record's creation.
 */
export function isoOr(text: string | undefined, fallbackMs: number): string {
  const parsed = text ? Date.parse(text) : NaN;
  return new Date(Number.isFinite(parsed) ? parsed : fallbackMs).toISOString();
}
