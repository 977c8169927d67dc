/**
 * A loopback fake of Telnyx's Call Control REST API (v2), as the telnyx SDK speaks it:
 *   POST /v2/calls                               dial: connection_id, to, from, stream_url, stream_track,
 *                                                stream_bidirectional_mode, stream_bidirectional_codec,
 *                                                client_state, webhook_url, answering_machine_detection...
 *   POST /v2/calls/{id}/actions/hangup | send_dtmf | answer | streaming_start
 * Bearer auth; answers Telnyx-shaped JSON (errors: {errors: [{code, title, detail}]}). Every command
 * is recorded (`requests`); one that repeats a command_id already seen for the same call within 60 s
 * is acknowledged and ignored, as Telnyx documents ("Commands with duplicate command_ids within 60
 * seconds will be ignored": https://developers.telnyx.com/docs/voice/programmable-voice/receiving-webhooks),
 * and recorded with `duplicate: true`. Stream parameters are checked against the SDK's types
 * (telnyx-node 7 resources/calls/calls.d.ts: StreamCodec, StreamBidirectionalCodec,
 * StreamBidirectionalMode, StreamBidirectionalSamplingRate). An answered inbound call is alive until
 * hung up; a command to an ended call answers 422 90018 "Call has already ended". Each dial is
 * handed to a simulated caller through a NetworkDesk (/_sim/...), and webhooks (call.initiated,
 * call.answered when the caller takes the call, call.hangup on hangup) are posted to webhook_url,
 * Ed25519-signed with the key given. Faults: `failNext` answers an error, `hangNext` never answers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import nacl from 'tweetnacl';
import { NetworkDesk } from '../../src/simulator/network-desk.js';

export type TelnyxOp = 'dial' | 'hangup' | 'send_dtmf' | 'answer' | 'streaming_start';

export interface TelnyxRequest {
  readonly op: TelnyxOp | 'unknown';
  readonly path: string;
  readonly callControlId?: string;
  readonly auth: string | undefined;
  readonly body: Record<string, unknown>;
  /** A repeat of a command_id this call already had within 60 s: acknowledged, not executed. */
  duplicate?: boolean;
}

export interface TelnyxWebhookSent {
  readonly eventType: string;
  readonly body: string;
  readonly status: number;
}

type Fault = { kind: 'error'; status: number; code: string; title: string; detail: string } | { kind: 'hang' };

interface FakeCall {
  id: string;
  sessionId: string;
  from: string;
  to: string;
  clientState?: string;
  webhookUrl?: string;
  connectionId: string;
  alive: boolean;
}

export interface TelnyxRestFake {
  /** For TELNYX_API_BASE_URL (ends in /v2). */
  readonly apiBaseUrl: string;
  /** The network URL for the simulated caller (serves /_sim/...). */
  readonly baseUrl: string;
  readonly requests: TelnyxRequest[];
  readonly webhooks: TelnyxWebhookSent[];
  readonly desk: NetworkDesk;
  failNext(op: TelnyxOp, status: number, code: string, title: string, detail?: string): void;
  hangNext(op: TelnyxOp): void;
  /** Post a call event as Telnyx would (signed). */
  sendEvent(callControlId: string, eventType: string, extra?: Record<string, unknown>): Promise<void>;
  /**
   * Post a Call Control webhook to `url` (signed) with the given event id, as a first delivery or a
   * retry of the same event (same id and body). Answers the HTTP status.
   */
  deliver(url: string, body: Record<string, unknown>): Promise<{ status: number; json: unknown }>;
  /** Commands executed (not duplicates, not refused) of one kind, optionally for one call. */
  executed(op: TelnyxOp, callControlId?: string): TelnyxRequest[];
  close(): Promise<void>;
}

// telnyx-node 7, resources/calls/calls.d.ts.
const STREAM_CODECS = new Set(['PCMU', 'PCMA', 'G722', 'OPUS', 'AMR-WB', 'L16', 'default']);
const BIDIRECTIONAL_CODECS = new Set(['PCMU', 'PCMA', 'G722', 'OPUS', 'AMR-WB', 'L16']);
const BIDIRECTIONAL_MODES = new Set(['mp3', 'rtp']);
const SAMPLING_RATES = new Set([8000, 16000, 22050, 24000, 48000]);
const STREAM_TRACKS = new Set(['inbound_track', 'outbound_track', 'both_tracks']);

/** What Telnyx would refuse in the stream parameters of answer / dial / streaming_start. */
function streamParamProblem(body: Record<string, unknown>): string | undefined {
  if (body.stream_codec !== undefined && !STREAM_CODECS.has(String(body.stream_codec))) return `stream_codec '${String(body.stream_codec)}'`;
  if (body.stream_bidirectional_codec !== undefined && !BIDIRECTIONAL_CODECS.has(String(body.stream_bidirectional_codec))) {
    return `stream_bidirectional_codec '${String(body.stream_bidirectional_codec)}' (case sensitive)`;
  }
  if (body.stream_bidirectional_mode !== undefined && !BIDIRECTIONAL_MODES.has(String(body.stream_bidirectional_mode))) return `stream_bidirectional_mode '${String(body.stream_bidirectional_mode)}'`;
  if (body.stream_bidirectional_sampling_rate !== undefined && !SAMPLING_RATES.has(Number(body.stream_bidirectional_sampling_rate))) {
    return `stream_bidirectional_sampling_rate '${String(body.stream_bidirectional_sampling_rate)}'`;
  }
  if (body.stream_track !== undefined && !STREAM_TRACKS.has(String(body.stream_track))) return `stream_track '${String(body.stream_track)}'`;
  if (body.stream_auth_token !== undefined && String(body.stream_auth_token).length > 4000) return 'stream_auth_token longer than 4000 characters';
  return undefined;
}

export async function startTelnyxRestFake(opts: { apiKey: string; secretKey?: Uint8Array }): Promise<TelnyxRestFake> {
  const requests: TelnyxRequest[] = [];
  const webhooks: TelnyxWebhookSent[] = [];
  const calls = new Map<string, FakeCall>();
  const faults: Record<TelnyxOp, Fault[]> = { dial: [], hangup: [], send_dtmf: [], answer: [], streaming_start: [] };
  /** command_id -> when it was first seen, per call_control_id. */
  const commandIds = new Map<string, number>();
  const executedOk = new Set<TelnyxRequest>();
  const hung = new Set<ServerResponse>();
  const pending = new Set<Promise<void>>();

  const sign = (body: string): Record<string, string> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (opts.secretKey) {
      const ts = String(Math.floor(Date.now() / 1000));
      headers['telnyx-timestamp'] = ts;
      headers['telnyx-signature-ed25519'] = Buffer.from(nacl.sign.detached(Buffer.from(`${ts}|${body}`, 'utf8'), opts.secretKey)).toString('base64');
    }
    return headers;
  };

  const deliver = async (url: string, payload: Record<string, unknown>) => {
    const body = JSON.stringify(payload);
    const res = await fetch(url, { method: 'POST', headers: sign(body), body });
    const text = await res.text();
    const data = (payload as { data?: { event_type?: string } }).data;
    webhooks.push({ eventType: data?.event_type ?? '', body, status: res.status });
    return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };

  const sendEvent = async (id: string, eventType: string, extra: Record<string, unknown> = {}): Promise<void> => {
    const call = calls.get(id);
    if (!call?.webhookUrl) return;
    const body = JSON.stringify({
      data: {
        record_type: 'event',
        event_type: eventType,
        id: randomUUID(),
        occurred_at: new Date().toISOString(),
        payload: {
          call_control_id: call.id,
          call_leg_id: call.id.slice(3),
          call_session_id: call.sessionId,
          connection_id: call.connectionId,
          client_state: call.clientState,
          from: call.from,
          to: call.to,
          direction: 'outgoing',
          ...extra,
        },
      },
      meta: { attempt: 1, delivered_to: call.webhookUrl },
    });
    const res = await fetch(call.webhookUrl, { method: 'POST', headers: sign(body), body }).catch(() => undefined);
    webhooks.push({ eventType, body, status: res?.status ?? 0 });
    await res?.body?.cancel();
  };
  const fire = (id: string, eventType: string, extra?: Record<string, unknown>) => {
    const p = sendEvent(id, eventType, extra).finally(() => pending.delete(p));
    pending.add(p);
  };

  const desk = new NetworkDesk({
    onTaken: (dial) => fire(dial.carrierCallId, 'call.answered', { state: 'answered' }),
  });

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const telnyxError = (res: ServerResponse, status: number, code: string, title: string, detail: string) =>
    json(res, status, { errors: [{ code, title, detail }] });

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    let body: Record<string, unknown>;
    try {
      body = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
    } catch {
      return telnyxError(res, 400, '10015', 'Invalid JSON', 'the body is not JSON');
    }
    const action = /^\/v2\/calls\/([^/]+)\/actions\/([a-z_]+)$/.exec(url.pathname);
    const op: TelnyxOp | 'unknown' =
      req.method === 'POST' && url.pathname === '/v2/calls'
        ? 'dial'
        : action && ['hangup', 'send_dtmf', 'answer', 'streaming_start'].includes(action[2])
          ? (action[2] as TelnyxOp)
          : 'unknown';
    const id = action ? decodeURIComponent(action[1]) : undefined;
    const record: TelnyxRequest = { op, path: url.pathname, callControlId: id, auth: req.headers.authorization, body };
    requests.push(record);
    if (req.headers.authorization !== `Bearer ${opts.apiKey}`) return telnyxError(res, 401, '10009', 'Authentication failed', 'The API key is not valid');
    if (op === 'unknown') return telnyxError(res, 404, '10005', 'Resource not found', `no route ${req.method ?? ''} ${url.pathname}`);
    // Telnyx ignores a command whose command_id this call already had (executed) within 60 s.
    const commandKey = id !== undefined && typeof body.command_id === 'string' ? `${id}\u0000${body.command_id}` : undefined;
    if (commandKey !== undefined) {
      const seen = commandIds.get(commandKey);
      if (seen !== undefined && Date.now() - seen < 60_000) {
        record.duplicate = true;
        return json(res, 200, { data: { result: 'ok' } });
      }
    }
    const badStream = streamParamProblem(body);
    if (badStream) return telnyxError(res, 422, '10015', 'Invalid value', badStream);
    // answer takes no stream_bidirectional_sampling_rate (ActionAnswerParams in telnyx-node 7,
    // resources/calls/actions.d.ts; dial and streaming_start do): refused here, so nothing of ours can
    // rely on a rate Telnyx would not apply.
    if (op === 'answer' && body.stream_bidirectional_sampling_rate !== undefined) {
      return telnyxError(res, 422, '10015', 'Invalid parameter', 'stream_bidirectional_sampling_rate is not a parameter of answer');
    }
    const fault = faults[op].shift();
    if (fault?.kind === 'hang') {
      hung.add(res);
      return;
    }
    if (fault) return telnyxError(res, fault.status, fault.code, fault.title, fault.detail);
    executedOk.add(record);
    if (commandKey !== undefined) commandIds.set(commandKey, Date.now());

    if (op === 'dial') {
      for (const field of ['connection_id', 'to', 'from']) {
        if (typeof body[field] !== 'string' || body[field] === '') return telnyxError(res, 422, '10015', 'Invalid value', `${field} is required`);
      }
      const call: FakeCall = {
        id: `v3:${randomUUID().replace(/-/g, '')}`,
        sessionId: randomUUID(),
        from: body.from as string,
        to: body.to as string,
        clientState: body.client_state as string | undefined,
        webhookUrl: body.webhook_url as string | undefined,
        connectionId: body.connection_id as string,
        alive: true,
      };
      calls.set(call.id, call);
      json(res, 200, { data: { call_control_id: call.id, call_leg_id: call.id.slice(3), call_session_id: call.sessionId, is_alive: false, record_type: 'call' } });
      fire(call.id, 'call.initiated', { state: 'bridging' });
      desk.offer({
        transport: 'telnyx',
        carrierCallId: call.id,
        from: call.from,
        to: call.to,
        streamUrl: body.stream_url as string | undefined,
        codec: body.stream_codec as string | undefined,
        egressCodec: body.stream_bidirectional_codec as string | undefined,
      });
      return;
    }
    if (op === 'answer' && id !== undefined && !calls.has(id)) {
      // An inbound call we offered (call.initiated): answering makes it a live leg at Telnyx.
      calls.set(id, { id, sessionId: randomUUID(), from: '', to: '', connectionId: '', alive: true });
      return json(res, 200, { data: { result: 'ok' } });
    }
    const call = id === undefined ? undefined : calls.get(id);
    if (!call?.alive) {
      executedOk.delete(record);
      if (commandKey !== undefined) commandIds.delete(commandKey);
      return telnyxError(res, 422, '90018', 'Call has already ended', 'This call is no longer active and can\'t receive commands.');
    }
    if (op === 'answer' || op === 'streaming_start') return json(res, 200, { data: { result: 'ok' } });
    if (op === 'hangup') {
      call.alive = false;
      json(res, 200, { data: { result: 'ok' } });
      desk.push(call.id, { type: 'hangup' });
      fire(call.id, 'call.hangup', { hangup_cause: 'normal_clearing', hangup_source: 'caller', state: 'hangup' });
      return;
    }
    if (typeof body.digits !== 'string' || body.digits === '') return telnyxError(res, 422, '10015', 'Invalid value', 'digits is required');
    json(res, 200, { data: { result: 'ok' } });
    desk.push(call.id, { type: 'dtmf', digits: body.digits });
  };

  const server: Server = createServer((req, res) => {
    if (desk.handle(req, res)) return;
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => handle(req, res, raw));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const baseUrl = `http://127.0.0.1:${String(port)}`;

  return {
    apiBaseUrl: `${baseUrl}/v2`,
    baseUrl,
    requests,
    webhooks,
    desk,
    deliver,
    executed: (op, callControlId) => requests.filter((r) => r.op === op && executedOk.has(r) && (callControlId === undefined || r.callControlId === callControlId)),
    failNext: (op, status, code, title, detail = title) => faults[op].push({ kind: 'error', status, code, title, detail }),
    hangNext: (op) => faults[op].push({ kind: 'hang' }),
    sendEvent,
    async close() {
      desk.close();
      await Promise.all([...pending]);
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
