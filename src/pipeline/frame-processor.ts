/**
 * The shape of every ingress stage: a pure synchronous processor (werift style:
 * `process(input) -> output | null`), testable on plain arrays. The call's ingress graph runs them
 * in order inside its write() (see ingress-graph.ts).
 */
export interface FrameProcessor<I, O> {
  process(input: I): O | null;
}
