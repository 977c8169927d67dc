/**
 * The baseline: a minimal Twilio <-> OpenAI Realtime bridge, written the way the popular sample
 * bridges are (twilio-samples/speech-assistant-openai-realtime-api-node, openai-realtime-twilio-demo):
 * parse each Twilio JSON message, forward the base64 payload as is in `input_audio_buffer.append`,
 * forward each `response.output_audio.delta` back as one Twilio media message, send `clear` when the
 * provider's server VAD hears the caller start. No decode, no VAD of our own, no pacing, no metrics,
 * no stream tokens; audio that arrives before the provider socket is open is dropped, as the samples
 * do. The load generator drives it and the gateway alike, against the same provider fake, and compares
 * process with process.
 *
 * Run: `node --import tsx bench/baseline/bridge.ts` with PORT, PUBLIC_URL, OPENAI_REALTIME_URL
 * (wss://.../v1/realtime?model=...), OPENAI_API_KEY and, for a self-signed fake, OPENAI_CA_FILE.
 * Harness instrumentation only: it answers an IPC 'stats' message with its CPU, memory and event-loop
 * delay (nothing on the per-frame path).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket, { WebSocketServer, type RawData } from 'ws';

const PORT = Number(process.env.PORT ?? 8081);
const PUBLIC_URL = process.env.PUBLIC_URL ?? `http://127.0.0.1:${String(PORT)}`;
const OPENAI_REALTIME_URL = process.env.OPENAI_REALTIME_URL ?? 'wss://api.openai.com/v1/realtime?model=gpt-realtime';
const OPENAI_API_KEY = process.env.OPENAI_API_KEY ?? '';
const CA = process.env.OPENAI_CA_FILE ? readFileSync(process.env.OPENAI_CA_FILE, 'utf8') : undefined;
const MEDIA_URL = `${PUBLIC_URL.replace(/^http/, 'ws')}/media-stream`;

const SESSION_UPDATE = JSON.stringify({
  type: 'session.update',
  session: {
    type: 'realtime',
    instructions: 'You are a helpful voice assistant on a phone call.',
    output_modalities: ['audio'],
    audio: {
      input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'server_vad' } },
      output: { format: { type: 'audio/pcmu' }, voice: 'alloy' },
    },
  },
});

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  if (req.method === 'POST' && req.url === '/twilio/voice') {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="${MEDIA_URL}"/></Connect></Response>`);
    });
    return;
  }
  res.writeHead(404).end();
});

const wss = new WebSocketServer({ server, path: '/media-stream' });

wss.on('connection', (connection) => {
  let streamSid: string | null = null;
  const openAiWs = new WebSocket(OPENAI_REALTIME_URL, { headers: { Authorization: `Bearer ${OPENAI_API_KEY}` }, ca: CA });

  openAiWs.on('open', () => openAiWs.send(SESSION_UPDATE));
  openAiWs.on('error', () => connection.close());

  openAiWs.on('message', (data: RawData) => {
    const response = JSON.parse(data.toString()) as { type: string; delta?: string };
    if (response.type === 'response.output_audio.delta' && response.delta) {
      connection.send(JSON.stringify({ event: 'media', streamSid, media: { payload: response.delta } }));
    } else if (response.type === 'input_audio_buffer.speech_started') {
      connection.send(JSON.stringify({ event: 'clear', streamSid }));
    }
  });

  connection.on('message', (message: RawData) => {
    const data = JSON.parse(message.toString()) as { event: string; start?: { streamSid: string }; media?: { payload: string } };
    switch (data.event) {
      case 'start':
        streamSid = data.start!.streamSid;
        break;
      case 'media':
        if (openAiWs.readyState === WebSocket.OPEN) {
          openAiWs.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: data.media!.payload }));
        }
        break;
      case 'stop':
        connection.close();
        break;
    }
  });

  connection.on('close', () => {
    if (openAiWs.readyState === WebSocket.OPEN || openAiWs.readyState === WebSocket.CONNECTING) openAiWs.terminate();
  });
});

// Harness instrumentation (not part of the bridge's work): answered on request, over IPC. The loop
// monitor samples every 10 ms like the gateway's, and reports whole intervals as the gateway's does.
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
process.on('message', (m) => {
  if (m !== 'stats' || !process.send) return;
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  process.send({ cpuSeconds: (cpu.user + cpu.system) / 1e6, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, eventLoopDelayP99Ms: loop.percentile(99) / 1e6 });
});

process.on('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});

server.listen(PORT, '127.0.0.1');
