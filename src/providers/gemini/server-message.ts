/**
 * Decodes one parsed Gemini Live server message into the few things the session acts on, plus a
 * list of problems (things the server sent that we cannot use). Pure and synchronous: the session
 * decides what a problem costs (a non-fatal PROTOCOL error), this module only says what it saw.
 *
 * Field names are those of @google/genai's LiveServerMessage / LiveServerContent (Gemini API, not
 * Vertex: the SDK hands those through as parsed JSON, so parsing once ourselves gives the same shape).
 */
import { pcm16FromBytes } from '../../pipeline/frame.js';

export type LiveAction =
  | { kind: 'audio'; samples: Int16Array }
  | { kind: 'inputText'; text: string }
  | { kind: 'outputText'; text: string }
  | { kind: 'interrupted' }
  | { kind: 'generationComplete' }
  | { kind: 'turnComplete' }
  | { kind: 'goAway'; timeLeftMs: number }
  /** LiveServerToolCall.functionCalls: the model calls functions we declared (each answered by id). */
  | { kind: 'toolCall'; calls: { id: string | undefined; name: string; args: Record<string, unknown> }[] }
  | { kind: 'resumption'; handle: string };

export interface Problem {
  readonly detail: string;
  /** Unknown field names are reported once per session, not on every message that carries them. */
  readonly unknownField?: string;
}

export interface DecodedMessage {
  readonly actions: LiveAction[];
  readonly problems: Problem[];
}

/** Top-level fields the SDK knows; those we do not act on are ignored, not reported. */
const KNOWN_TOP = new Set([
  'setupComplete', 'serverContent', 'toolCall', 'toolCallCancellation', 'usageMetadata', 'goAway',
  'sessionResumptionUpdate', 'voiceActivityDetectionSignal', 'voiceActivity',
]);
const KNOWN_CONTENT = new Set([
  'modelTurn', 'turnComplete', 'interrupted', 'groundingMetadata', 'generationComplete', 'inputTranscription',
  'interimInputTranscription', 'outputTranscription', 'urlContextMetadata', 'turnCompleteReason', 'waitingForInput',
  'interactionStatus',
]);

// Standard or URL-safe alphabet, optional padding; Buffer.from(.., 'base64') would silently skip junk.
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const DURATION = /^(\d+(?:\.\d+)?)s$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses `audio/pcm;rate=24000` (rate optional: PCM output is documented as 24 kHz). */
export function pcmRateOf(mimeType: string): number | undefined {
  const [type, ...params] = mimeType.split(';').map((s) => s.trim().toLowerCase());
  if (type !== 'audio/pcm') return undefined;
  for (const p of params) {
    const m = /^rate=(\d+)$/.exec(p);
    if (m) return Number(m[1]);
  }
  return 24000;
}

/** A protobuf JSON Duration ("1s", "0.5s", "59.9s") in ms; 0 when absent or unreadable. */
export function durationMs(value: unknown): number {
  if (typeof value !== 'string') return 0;
  const m = DURATION.exec(value.trim());
  return m ? Math.round(Number(m[1]) * 1000) : 0;
}

export function decodeServerMessage(msg: Record<string, unknown>, outputRate: number): DecodedMessage {
  const actions: LiveAction[] = [];
  const problems: Problem[] = [];
  let usable = false;
  for (const key of Object.keys(msg)) {
    if (KNOWN_TOP.has(key)) usable = true;
    else problems.push({ detail: `unknown message field '${key}'`, unknownField: key });
  }
  if (!usable && problems.length === 0) problems.push({ detail: 'empty message' });

  const content = msg.serverContent;
  if (content !== undefined) {
    if (isObject(content)) decodeContent(content, outputRate, actions, problems);
    else problems.push({ detail: 'serverContent is not an object' });
  }
  if (msg.goAway !== undefined) {
    const g = msg.goAway;
    actions.push({ kind: 'goAway', timeLeftMs: isObject(g) ? durationMs(g.timeLeft) : 0 });
  }
  if (msg.toolCall !== undefined) decodeToolCall(msg.toolCall, actions, problems);
  const upd = msg.sessionResumptionUpdate;
  if (isObject(upd) && upd.resumable === true && typeof upd.newHandle === 'string' && upd.newHandle !== '') {
    actions.push({ kind: 'resumption', handle: upd.newHandle });
  }
  return { actions, problems };
}

function decodeContent(content: Record<string, unknown>, outputRate: number, actions: LiveAction[], problems: Problem[]): void {
  for (const key of Object.keys(content)) {
    if (!KNOWN_CONTENT.has(key)) problems.push({ detail: `unknown serverContent field '${key}'`, unknownField: `serverContent.${key}` });
  }
  const input = transcriptText(content.inputTranscription, 'inputTranscription', problems);
  if (input) actions.push({ kind: 'inputText', text: input });
  if (content.modelTurn !== undefined) decodeModelTurn(content.modelTurn, outputRate, actions, problems);
  const output = transcriptText(content.outputTranscription, 'outputTranscription', problems);
  if (output) actions.push({ kind: 'outputText', text: output });
  if (content.interrupted === true) actions.push({ kind: 'interrupted' });
  if (content.generationComplete === true) actions.push({ kind: 'generationComplete' });
  if (content.turnComplete === true) actions.push({ kind: 'turnComplete' });
}

function decodeToolCall(toolCall: unknown, actions: LiveAction[], problems: Problem[]): void {
  const fcs = isObject(toolCall) ? toolCall.functionCalls : undefined;
  if (!Array.isArray(fcs)) {
    problems.push({ detail: 'toolCall.functionCalls is not a list' });
    return;
  }
  const calls: { id: string | undefined; name: string; args: Record<string, unknown> }[] = [];
  for (const fc of fcs) {
    if (!isObject(fc) || typeof fc.name !== 'string') {
      problems.push({ detail: 'toolCall function call has no name' });
      continue;
    }
    calls.push({ id: typeof fc.id === 'string' ? fc.id : undefined, name: fc.name, args: isObject(fc.args) ? fc.args : {} });
  }
  if (calls.length > 0) actions.push({ kind: 'toolCall', calls });
}

function transcriptText(t: unknown, name: string, problems: Problem[]): string | undefined {
  if (t === undefined) return undefined;
  if (!isObject(t) || (t.text !== undefined && typeof t.text !== 'string')) {
    problems.push({ detail: `${name} is malformed` });
    return undefined;
  }
  return t.text === '' ? undefined : (t.text as string | undefined);
}

function decodeModelTurn(turn: unknown, outputRate: number, actions: LiveAction[], problems: Problem[]): void {
  const parts = isObject(turn) ? turn.parts : undefined;
  if (!Array.isArray(parts)) {
    problems.push({ detail: 'modelTurn.parts is not a list' });
    return;
  }
  for (const part of parts) {
    if (!isObject(part)) {
      problems.push({ detail: 'modelTurn part is not an object' });
      continue;
    }
    // Text parts (thoughts, captions) carry nothing we play; only inline audio matters here.
    if (part.inlineData === undefined) continue;
    const audio = decodeInlineAudio(part.inlineData, outputRate);
    if (typeof audio === 'string') problems.push({ detail: audio });
    else if (audio.length > 0) actions.push({ kind: 'audio', samples: audio });
  }
}

/** The samples, or why they cannot be used. */
function decodeInlineAudio(blob: unknown, outputRate: number): Int16Array | string {
  if (!isObject(blob) || typeof blob.data !== 'string' || typeof blob.mimeType !== 'string') return 'inlineData lacks data or mimeType';
  const rate = pcmRateOf(blob.mimeType);
  if (rate === undefined) return `inlineData mimeType '${blob.mimeType.slice(0, 64)}' is not audio/pcm`;
  if (rate !== outputRate) return `inlineData rate ${String(rate)} Hz, expected ${String(outputRate)} Hz`;
  if (!BASE64.test(blob.data)) return 'inlineData is not valid base64';
  const bytes = Buffer.from(blob.data, 'base64');
  if (bytes.length % 2 !== 0) return `inlineData has an odd byte count (${String(bytes.length)})`;
  return pcm16FromBytes(bytes);
}
