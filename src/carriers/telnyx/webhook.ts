/**
 * Telnyx Call Control webhooks, as the carrier sends them: the envelope `{ data: { id, event_type,
 * occurred_at, payload } }`, which event asks us to answer (an inbound `call.initiated`), and answering
 * it within the webhook's time: Telnyx waits for our 2xx, so the answer command gets a bounded wait and
 * the webhook is acknowledged when the wait is up, the command running on under its own deadline.
 * The HTTP route only parses, calls these, and replies.
 */
import { GatewayError } from '../../errors.js';
import type { TelnyxCallControl, TelnyxStreamSetup } from './call-control.js';

export interface TelnyxWebhook {
  /** data.id: one per event, the same on every delivery of it (at-least-once delivery). */
  readonly eventId: string | undefined;
  readonly eventType: string;
  readonly payload: Record<string, unknown>;
  readonly occurredAt: string | undefined;
}

/** The envelope of a Call Control webhook; a body without data.event_type is refused. */
export function parseTelnyxWebhook(body: unknown): TelnyxWebhook {
  const data = (body as { data?: { id?: unknown; event_type?: unknown; payload?: unknown; occurred_at?: unknown } } | undefined)?.data;
  const eventType = data?.event_type;
  if (typeof eventType !== 'string') throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', 'data.event_type is missing');
  const payload = data?.payload;
  return {
    eventId: typeof data?.id === 'string' && data.id !== '' ? data.id : undefined,
    eventType,
    payload: payload && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, unknown>) : {},
    occurredAt: typeof data?.occurred_at === 'string' ? data.occurred_at : undefined,
  };
}

/**
 * The call to answer, when this event is an inbound call arriving (call.initiated of an incoming
 * leg; a leg we dialled reports `direction: 'outgoing'` and is answered by the callee); undefined for
 * every other event. An inbound call.initiated without call_control_id is refused.
 */
export function inboundCallToAnswer(event: TelnyxWebhook): string | undefined {
  if (event.eventType !== 'call.initiated' || event.payload.direction === 'outgoing') return undefined;
  const id = event.payload.call_control_id;
  if (typeof id !== 'string' || id === '') throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', 'data.payload.call_control_id is missing');
  return id;
}

/** How long a webhook waits for its Call Control command before answering 2xx anyway. */
export const WEBHOOK_COMMAND_WAIT_MS = 2000;

export interface AnswerLog {
  answered(late: boolean): void;
  failedLate(err: unknown): void;
}

/**
 * Answers the call with its media stream, waiting at most `waitMs`: 'answered' when the command
 * finished in time, 'answering' when it still runs (its end is reported to `log`). A command that
 * fails in time is a GW_ERR_CARRIER_API error. The answer's command id is fixed per call, so the
 * answer of a retried webhook runs once (call-control.ts commandIdFor).
 */
export async function answerWithinWebhook(
  control: TelnyxCallControl,
  callControlId: string,
  setup: TelnyxStreamSetup,
  log: AnswerLog,
  waitMs = WEBHOOK_COMMAND_WAIT_MS,
): Promise<'answered' | 'answering'> {
  const answering = control.answerWithStream(callControlId, setup);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    answering.then(() => 'answered' as const),
    new Promise<'answering'>((r) => (timer = setTimeout(() => r('answering'), waitMs))),
  ])
    .catch((err: unknown) => {
      throw new GatewayError('GW_ERR_CARRIER_API', `Telnyx answer for ${callControlId}: ${(err as Error).message}`, { cause: err });
    })
    .finally(() => clearTimeout(timer));
  if (outcome === 'answering') {
    // Still running under its own deadline: acknowledge now, report how it ends.
    answering.then(
      () => log.answered(true),
      (err: unknown) => log.failedLate(err),
    );
  } else {
    log.answered(false);
  }
  return outcome;
}
