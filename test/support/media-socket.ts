/**
 * A test's side of a carrier media socket: open one, learn how it closed, and the good caller's audio
 * that hostile suites run alongside their abuse to show that other calls stay whole.
 */
import WebSocket from 'ws';
import { readBytes } from './fixtures.js';

/** Opens a WebSocket and resolves once it is open (rejects on a refused upgrade). */
export async function openSocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

/** How the socket closed (code and reason); a socket already closed reads as 1006. */
export function closedWith(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: 1006, reason: '' });
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** One utterance (a fixture card) between 1 s and 2 s of mu-law silence: exactly one echo. */
export function oneUtteranceMulaw(): Uint8Array {
  const speech = readBytes('g711/cards-003.ulaw');
  const audio = new Uint8Array(8000 + speech.length + 16000).fill(0xff);
  audio.set(speech, 8000);
  return audio;
}
