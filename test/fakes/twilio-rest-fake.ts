/**
 * A loopback fake of Twilio's Calls REST API, as twilio-node speaks it:
 *   POST /2010-04-01/Accounts/{AccountSid}/Calls.json         form: To, From, Twiml|Url, StatusCallback,
 *        StatusCallbackEvent (repeated), MachineDetection, AsyncAmd, Timeout ...; basic auth
 *   POST /2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json   form: Status=completed|canceled, Twiml
 * It records every request, answers Twilio-shaped JSON (errors: {code, message, more_info, status}),
 * hands each placed call to a simulated caller through a NetworkDesk (/_sim/...), and posts signed
 * status callbacks (initiated, ringing; in-progress when the caller takes the call; completed on
 * hangup) to the StatusCallback URL, signed with the official helper. Faults: `failNext` answers an
 * error, `hangNext` never answers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import { NetworkDesk, type DialedCall } from '../../src/simulator/network-desk.js';

const { getExpectedTwilioSignature } = twilio as unknown as {
  getExpectedTwilioSignature(token: string, url: string, params: Record<string, string>): string;
};

export type TwilioForm = Record<string, string | string[]>;

export interface TwilioRequest {
  readonly op: 'create' | 'update';
  readonly method: string;
  readonly path: string;
  readonly callSid?: string;
  readonly auth: string | undefined;
  readonly form: TwilioForm;
}

export interface StatusCallbackSent {
  readonly url: string;
  readonly params: Record<string, string>;
  readonly status: number;
}

type Fault = { kind: 'error'; status: number; code: number; message: string } | { kind: 'hang' };

interface FakeCall {
  sid: string;
  to: string;
  from: string;
  status: string;
  statusCallback?: string;
  events: string[];
  answeredAt?: number;
}

export interface TwilioRestFake {
  /** Base URL for TWILIO_API_BASE_URL, and the network URL for the simulated caller. */
  readonly baseUrl: string;
  readonly accountSid: string;
  readonly requests: TwilioRequest[];
  readonly callbacks: StatusCallbackSent[];
  readonly desk: NetworkDesk;
  /** The next request of this kind answers an error with Twilio's body shape. */
  failNext(op: 'create' | 'update', status: number, code: number, message: string): void;
  /** The next request of this kind is never answered. */
  hangNext(op: 'create' | 'update'): void;
  /** Send a status callback for a call as Twilio would (signed). */
  sendStatus(sid: string, status: string, extra?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

export async function startTwilioRestFake(opts: { accountSid?: string; authToken: string }): Promise<TwilioRestFake> {
  const accountSid = opts.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${opts.authToken}`).toString('base64')}`;
  const requests: TwilioRequest[] = [];
  const callbacks: StatusCallbackSent[] = [];
  const calls = new Map<string, FakeCall>();
  const faults: Record<'create' | 'update', Fault[]> = { create: [], update: [] };
  const hung = new Set<ServerResponse>();
  const pendingCallbacks = new Set<Promise<void>>();
  let seq = 0;

  const sendStatus = async (sid: string, status: string, extra: Record<string, string> = {}): Promise<void> => {
    const call = calls.get(sid);
    if (!call?.statusCallback) return;
    const params: Record<string, string> = {
      AccountSid: accountSid,
      ApiVersion: '2010-04-01',
      CallSid: sid,
      CallStatus: status,
      Direction: 'outbound-api',
      From: call.from,
      To: call.to,
      SequenceNumber: String(seq++),
      Timestamp: new Date().toUTCString(),
      ...extra,
    };
    const signature = getExpectedTwilioSignature(opts.authToken, call.statusCallback, params);
    const res = await fetch(call.statusCallback, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams(params).toString(),
    }).catch(() => undefined);
    callbacks.push({ url: call.statusCallback, params, status: res?.status ?? 0 });
    await res?.body?.cancel();
  };
  const fire = (sid: string, status: string, extra?: Record<string, string>) => {
    const p = sendStatus(sid, status, extra).finally(() => pendingCallbacks.delete(p));
    pendingCallbacks.add(p);
  };

  const desk = new NetworkDesk({
    onTaken: (dial) => {
      const call = calls.get(dial.carrierCallId);
      if (!call) return;
      call.status = 'in-progress';
      call.answeredAt = Date.now();
      if (call.events.includes('answered')) fire(call.sid, 'in-progress');
    },
  });

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const twilioError = (res: ServerResponse, status: number, code: number, message: string) =>
    json(res, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${String(code)}`, status });
  const callJson = (c: FakeCall) => ({
    sid: c.sid,
    account_sid: accountSid,
    to: c.to,
    from: c.from,
    status: c.status,
    direction: 'outbound-api',
    api_version: '2010-04-01',
    date_created: new Date().toUTCString(),
    uri: `/2010-04-01/Accounts/${accountSid}/Calls/${c.sid}.json`,
  });

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Calls(?:\/([^/]+))?\.json$/.exec(url.pathname);
    if (!m || req.method !== 'POST') return twilioError(res, 404, 20404, `The requested resource ${url.pathname} was not found`);
    const form: TwilioForm = {};
    for (const [k, v] of new URLSearchParams(body)) {
      const prev = form[k];
      form[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    const op = m[2] ? 'update' : 'create';
    requests.push({ op, method: req.method, path: url.pathname, callSid: m[2], auth: req.headers.authorization, form });
    if (req.headers.authorization !== expectedAuth || m[1] !== accountSid) return twilioError(res, 401, 20003, 'Authenticate');
    const fault = faults[op].shift();
    if (fault?.kind === 'hang') {
      hung.add(res);
      return;
    }
    if (fault) return twilioError(res, fault.status, fault.code, fault.message);
    const one = (k: string) => (Array.isArray(form[k]) ? (form[k] as string[])[0] : (form[k] as string | undefined));

    if (op === 'create') {
      const to = one('To');
      const from = one('From');
      if (!to) return twilioError(res, 400, 21201, "No 'To' number is specified");
      if (!from) return twilioError(res, 400, 21603, "A 'From' phone number is required.");
      const twiml = one('Twiml');
      if (!twiml && !one('Url') && !one('ApplicationSid')) return twilioError(res, 400, 21205, 'Url parameter is required.');
      const sid = `CA${randomBytes(16).toString('hex')}`;
      const events = form.StatusCallbackEvent === undefined ? ['completed'] : ([] as string[]).concat(form.StatusCallbackEvent);
      const call: FakeCall = { sid, to, from, status: 'queued', statusCallback: one('StatusCallback'), events };
      calls.set(sid, call);
      json(res, 201, callJson(call));
      if (events.includes('initiated')) fire(sid, 'initiated');
      if (events.includes('ringing')) fire(sid, 'ringing');
      const dial: DialedCall = { transport: 'twilio', carrierCallId: sid, from, to, twiml };
      desk.offer(dial);
      return;
    }

    const call = calls.get(m[2]!);
    if (!call) return twilioError(res, 404, 20404, `The requested resource /2010-04-01/Accounts/${accountSid}/Calls/${m[2]!}.json was not found`);
    const status = one('Status');
    if (status === 'completed' || status === 'canceled') {
      const was = call.status;
      call.status = status === 'canceled' && was !== 'in-progress' ? 'canceled' : 'completed';
      json(res, 200, callJson(call));
      desk.push(call.sid, { type: 'hangup' });
      const duration = call.answeredAt === undefined ? '0' : String(Math.round((Date.now() - call.answeredAt) / 1000));
      fire(call.sid, call.status, { CallDuration: duration });
      return;
    }
    json(res, 200, callJson(call));
  };

  const server: Server = createServer((req, res) => {
    if (desk.handle(req, res)) return;
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => handle(req, res, body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  return {
    baseUrl: `http://127.0.0.1:${String(port)}`,
    accountSid,
    requests,
    callbacks,
    desk,
    failNext: (op, status, code, message) => faults[op].push({ kind: 'error', status, code, message }),
    hangNext: (op) => faults[op].push({ kind: 'hang' }),
    sendStatus,
    async close() {
      desk.close();
      await Promise.all([...pendingCallbacks]);
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
