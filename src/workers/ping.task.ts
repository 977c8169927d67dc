/**
 * Piscina task that hands its payload straight back: the price of a worker round trip with nothing
 * to compute, for the benchmarks and as a liveness probe.
 */
import { move } from 'piscina';

export default function pingTask(payload: unknown): unknown {
  return ArrayBuffer.isView(payload) ? move(payload) : payload;
}
