/**
 * Frame-sized typed arrays carved from shared slabs, the way Node's Buffer pool works. A fresh
 * `new Int16Array(160)` costs ~0.9 us in V8 (off-heap backing store, zero fill); a view on a slab
 * costs ~0.1 us, which is most of a G.711 frame decode. Views are never reused: a frame keeps its
 * slab alive until it is dropped, so immutability of emitted frames holds. Large requests bypass
 * the slab so one long buffer cannot pin a slab of small ones.
 *
 * The slabs are module-private memory, not shared state: nothing can observe them but through the
 * arrays handed out.
 */
const SLAB_BYTES = 64 * 1024;
const MAX_POOLED_BYTES = 4096;

let slab = new ArrayBuffer(SLAB_BYTES);
let offset = 0;

function carve(bytes: number): number {
  // Keep every view 8-byte aligned so any typed array kind can be placed.
  const aligned = (bytes + 7) & ~7;
  if (offset + aligned > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    offset = 0;
  }
  const at = offset;
  offset += aligned;
  return at;
}

export function allocSamples(length: number): Int16Array {
  const bytes = length * 2;
  if (bytes > MAX_POOLED_BYTES || bytes === 0) return new Int16Array(length);
  const at = carve(bytes);
  return new Int16Array(slab, at, length);
}

export function allocBytes(length: number): Uint8Array {
  if (length > MAX_POOLED_BYTES || length === 0) return new Uint8Array(length);
  const at = carve(length);
  return new Uint8Array(slab, at, length);
}
