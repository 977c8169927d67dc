/**
 * A loopback fake of Telnyx's Call Control REST API (v2), as the telnyx SDK speaks it:
 *   POST /v2/calls                               dial: connection_id, to, from, stream_url, stream_track,
 *                                                stream_bidirectional_mode, stream_bidirectional_codec,
 *                                                client_state, webhook_url, answering_machine_detection...
 *   POST /v2/calls/{id}/actions/hangup | send_dtmf | answer
 * Bearer auth; answers Telnyx-shaped JSON (errors: {errors: [{code, title, detail}]}). Each dial is
 * handed to a simulated caller through a NetworkDesk (/_sim/...), and webhooks (call.initiated,
 * call.answered when the caller takes the call, call.hangup on hangup) are posted to webhook_url,
 * Ed25519-signed with the key given. Faults: `failNext` answers an error, `hangNext` never answers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import nacl from 'tweetnacl';
import { NetworkDesk } from '../../src/simulator/network-desk.js';

export type TelnyxOp = 'dial' | 'hangup' | 'send_dtmf' | 'answer';

export interface TelnyxRequest {
  readonly op: TelnyxOp | 'unknown';
  readonly path: string;
  readonly callControlId?: string;
  readonly auth: string | undefined;
  readonly body: Record<string, unknown>;
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
  close(): Promise<void>;
}

export async function startTelnyxRestFake(opts: { apiKey: string; secretKey?: Uint8Array }): Promise<TelnyxRestFake> {
  const requests: TelnyxRequest[] = [];
  const webhooks: TelnyxWebhookSent[] = [];
  const calls = new Map<string, FakeCall>();
  const faults: Record<TelnyxOp, Fault[]> = { dial: [], hangup: [], send_dtmf: [], answer: [] };
  const hung = new Set<ServerResponse>();
  const pending = new Set<Promise<void>>();

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
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (opts.secretKey) {
      const ts = String(Math.floor(Date.now() / 1000));
      headers['telnyx-timestamp'] = ts;
      headers['telnyx-signature-ed25519'] = Buffer.from(nacl.sign.detached(Buffer.from(`${ts}|${body}`, 'utf8'), opts.secretKey)).toString('base64');
    }
    const res = await fetch(call.webhookUrl, { method: 'POST', headers, body }).catch(() => undefined);
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
      req.method === 'POST' && url.pathname === '/v2/calls' ? 'dial' : action && ['hangup', 'send_dtmf', 'answer'].includes(action[2]) ? (action[2] as TelnyxOp) : 'unknown';
    const id = action ? decodeURIComponent(action[1]) : undefined;
    requests.push({ op, path: url.pathname, callControlId: id, auth: req.headers.authorization, body });
    if (req.headers.authorization !== `Bearer ${opts.apiKey}`) return telnyxError(res, 401, '10009', 'Authentication failed', 'The API key is not valid');
    if (op === 'unknown') return telnyxError(res, 404, '10005', 'Resource not found', `no route ${req.method ?? ''} ${url.pathname}`);
    const fault = faults[op].shift();
    if (fault?.kind === 'hang') {
      hung.add(res);
      return;
    }
    if (fault) return telnyxError(res, fault.status, fault.code, fault.title, fault.detail);

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
        codec: (body.stream_bidirectional_codec as string | undefined) ?? (body.stream_codec as string | undefined),
      });
      return;
    }
    if (op === 'answer') return json(res, 200, { data: { result: 'ok' } });
    const call = id === undefined ? undefined : calls.get(id);
    if (!call?.alive) return telnyxError(res, 422, '90018', 'Call has already ended', 'This call is no longer active and can\'t receive commands.');
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
