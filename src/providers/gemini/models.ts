/**
 * What differs between Gemini Live model generations, in one table, so the session asks each model
 * only for what it documents. Pure.
 *
 * Sources (ai.google.dev, read 2026-12):
 * - gemini-3.8-live: "the default option for most low-latency voice agent experiences"; thinking_level is
 *   not supported ("omit thinking_level (or thinking_config) in the session setup"); client content with
 *   explicit roles is supported for the whole session (docs/models/gemini-3.8-live, "Migrating from
 *   Gemini 3.1 Flash Live").
 * - gemini-3.1-flash-live-preview: thinkingLevel (minimal/low/medium/high, default minimal) instead of
 *   thinkingBudget; one server message may carry several parts (audio and transcription); client content
 *   with roles for the whole session (docs/models/gemini-3.1-flash-live-preview, "Migrating from Gemini
 *   2.5 Flash Live").
 * - 2.5 native-audio models (gemini-2.5-flash-native-audio-preview-12-2025, gemini-live-2.5-flash-native-
 *   audio): thinkingBudget; history only as initial history (historyConfig.initialHistoryInClientContent).
 * - Shut down on 2025-12-09: gemini-live-2.5-flash-preview, gemini-2.0-flash-live-001
 *   (docs/deprecations, "Live API models").
 *
 * Every generation takes the conversation so far the same documented way: `historyConfig:
 * { initialHistoryInClientContent: true }` in the setup, then one clientContent with role-tagged turns
 * and turnComplete true before any realtime input (SDK type HistoryConfig: "This initial history will
 * not trigger a model call"). Content with turnComplete false, which newer models refuse (1007), is
 * never sent.
 */
import { ThinkingLevel, type ThinkingConfig } from '@google/genai';

export type LiveGeneration = '2.5' | '3.1' | '3.8';

export interface LiveModelTraits {
  readonly generation: LiveGeneration;
  /** What to send as generationConfig.thinkingConfig, if anything. */
  readonly thinkingConfig: ThinkingConfig | undefined;
}

/** Shut down on 2025-12-09 (Gemini API deprecations page). */
export const RETIRED_LIVE_MODELS: ReadonlySet<string> = new Set(['gemini-live-2.5-flash-preview', 'gemini-2.0-flash-live-001']);

export const DEFAULT_LIVE_MODEL = 'gemini-3.8-live';

function bare(model: string): string {
  return model.startsWith('models/') ? model.slice('models/'.length) : model;
}

export function liveModelTraits(model: string): LiveModelTraits {
  const m = bare(model);
  if (/^gemini-(2\.|live-2\.)/.test(m)) return { generation: '2.5', thinkingConfig: undefined };
  // 3.1 takes thinkingLevel only; minimal is its documented default, said explicitly so a changed server
  // default cannot add reasoning latency to a phone call.
  if (/^gemini-3\.1-/.test(m)) return { generation: '3.1', thinkingConfig: { thinkingLevel: ThinkingLevel.MINIMAL } };
  // 3.8 and anything newer: no thinking configuration at all.
  return { generation: '3.8', thinkingConfig: undefined };
}

export function isRetiredLiveModel(model: string): boolean {
  return RETIRED_LIVE_MODELS.has(bare(model));
}
