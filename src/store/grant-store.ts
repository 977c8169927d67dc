/**
 * Where one-time stream grants live when several gateway nodes share them (REDIS_URL): the node that
 * answers a webhook mints the grant, whichever node gets the media socket spends it, once. The store
 * holds opaque text under the token; StreamTokens owns what the text means (JSON of the grant). Without
 * a shared store StreamTokens keeps its grants in process, as a single node always has.
 */
export interface GrantStore {
  /** Store `value` under `token` for `ttlMs`, unless the token exists (never overwrites a grant). */
  put(token: string, value: string, ttlMs: number): Promise<void>;
  /** Read and delete in one atomic step: of two nodes taking one token at once, exactly one gets it. */
  take(token: string): Promise<string | undefined>;
  /** Read without spending. */
  peek(token: string): Promise<string | undefined>;
  /** Delete (an outbound call's grant withdrawn). */
  revoke(token: string): Promise<void>;
  close(): Promise<void>;
}
