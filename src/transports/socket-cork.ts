/**
 * The TCP socket under a `ws` WebSocket, to cork while one egress tick writes several messages (frames
 * and a mark, a late tick's frames, a reply's lead burst) so they leave in one write instead of one each.
 *
 * `_socket` is not public API: it is the net.Socket the ws Sender writes each frame to (ws 8.x; ws itself
 * corks it around a frame's header and payload, and cork nests). If a ws release renames it, or the
 * socket is something else, this returns undefined and messages are simply written one by one.
 */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

export function corkableSocketOf(ws: object): Corkable | undefined {
  const socket: unknown = (ws as { _socket?: unknown })._socket;
  if (typeof socket !== 'object' || socket === null) return undefined;
  const s = socket as Partial<Corkable>;
  return typeof s.cork === 'function' && typeof s.uncork === 'function' ? (socket as Corkable) : undefined;
}
