/**
 * The one place the environment is read. `loadConfig()` validates every variable at start-up and
 * throws GW_ERR_CONFIG_INVALID naming the variable, so a typo stops the gateway before it listens
 * rather than failing on the first call.
 */
import { availableParallelism, hostname } from 'node:os';
import ipaddr from 'ipaddr.js';
import { GatewayError } from './errors.js';

export type VadEngineName = 'silero' | 'energy' | 'off';

export interface Config {
  port: number;
  host: string;
  /** The http(s) base URL the telephony network reaches us at; media URLs use its ws(s) twin. */
  publicUrl: string;
  logLevel: string;
  workerPoolSize: number;
  vadEngine: VadEngineName;
  /** How long the Silero batcher gathers windows from many calls before a model run (0: one event-loop turn). */
  vadBatchWaitMs: number;
  /** Turn-detector knobs; unset ones keep the VAD's defaults (src/pipeline/vad/turn-detector.ts). */
  turn: { minSpeechMs?: number; minSilenceMs?: number; startThreshold?: number; stopThreshold?: number; speechPadMs?: number };
  providers: string[];
  /** System instructions given to every AI provider at session start. */
  instructions: string;
  openai: { apiKey?: string; baseUrl?: string; model: string; voice: string; turnDetection: 'none' | 'server_vad' | 'semantic_vad'; caFile?: string; endCallTool?: boolean };
  /** activityDetection: 'client' = our VAD brackets turns; 'automatic' = Gemini's own activity detection. */
  gemini: { apiKey?: string; baseUrl?: string; model: string; voice?: string; activityDetection?: 'client' | 'automatic'; endCallTool?: boolean };
  deepgram: {
    apiKey?: string;
    baseUrl?: string;
    /** deepgram-cascade: the listen v1 (Nova) model and the speak voice. */
    sttModel: string;
    ttsModel: string;
    /** deepgram (Voice Agent): listen model (flux-* lets our VAD end turns too), think provider and model, voice. */
    listenModel: string;
    thinkProvider: 'open_ai' | 'anthropic' | 'google' | 'groq' | 'aws_bedrock';
    thinkModel: string;
    thinkEndpointUrl?: string;
    thinkApiKey?: string;
    voice: string;
    greeting?: string;
    /** endpointing: Deepgram ends turns itself (its endpointing) instead of our VAD (deepgram-cascade). */
    endpointing?: boolean;
  };
  /** deepgram-cascade's language model: any OpenAI-compatible chat completions server. */
  llm: { baseUrl?: string; model: string; apiKey?: string };
  failover: {
    switchDeadlineMs: number;
    responseTimeoutMs: number;
    /** Per provider: how long a provider may show no sign of life after a turn end (overrides responseTimeoutMs). */
    responseTimeoutByProviderMs: Readonly<Record<string, number>>;
    /** How long a provider that acknowledged the turn may take to start (or decline) its reply. */
    replyTimeoutMs: number;
    failback: boolean;
    allDown: 'hangup' | 'echo';
    standby: boolean;
  };
  breaker: { errorThresholdPercentage: number; volumeThreshold: number; resetTimeoutMs: number; connectTimeoutMs: number; rollingWindowMs: number };
  twilio: {
    authToken?: string;
    authTokenPrevious?: string;
    allowedCidrs: string[];
  };
  telnyx: {
    publicKey?: string;
    apiKey?: string;
    apiBaseUrl?: string;
    allowedCidrs: string[];
    timestampToleranceS: number;
    /** Codec we ask Telnyx to stream to us (TeXML codec, Call Control stream_codec). */
    codec: 'PCMU' | 'PCMA' | 'L16';
    /** Codec Telnyx expects from us (bidirectionalCodec / stream_bidirectional_codec); L16 is sent at 16 kHz. */
    bidirectionalCodec: 'PCMU' | 'PCMA' | 'L16';
  };
  /**
   * Which proxies' X-Forwarded-For counts: false (none), true (proxies on loopback only), a hop count
   * (that many proxies in front, each trusted), or the proxies' addresses/CIDRs. The client address
   * is the one the last trusted proxy saw (src/http/security/allowlist.ts trustProxyOption).
   */
  trustProxy: boolean | number | string[];
  media: {
    maxMessageBytes: number;
    maxMessagesPerSecond: number;
    streamTokenTtlMs: number;
    /** REDIS_URL: one-time stream grants shared by every node (minted on one, consumed once on any). Unset: in process. */
    redisUrl?: string;
    egressLeadMs: number;
    egressMaxQueueMs: number;
    /** An upgraded media socket that has not sent a valid `start` within this is closed. */
    startTimeoutMs: number;
    /** Most media sockets open at once, in total and from one client address. */
    maxSockets: number;
    maxSocketsPerAddress: number;
  };
  /** HTTP deadlines and sizes (webhooks, API, the WebSocket handshake). */
  http: {
    /** Whole request (headers and body) must arrive within this; a trickled body is cut at 408. */
    requestTimeoutMs: number;
    /** A connection with no bytes either way for this long is closed (not upgraded media sockets). */
    connectionTimeoutMs: number;
    bodyLimitBytes: number;
  };
  shutdownDeadlineMs: number;
  /** Bearer tokens for /api/v1/*; several at once so keys can be rotated. Empty: open demo mode on loopback only. */
  apiTokens: string[];
  /** The echo provider's wait before it plays a turn back (stands in for model thinking time; benchmarks). */
  echoReplyDelayMs: number;
  // Calls and records (outbound calls, call control, status callbacks, the call log)
  calls: CallsConfig;
  // Browser calls behind NAT: ICE servers and TURN credentials
  webrtc: WebRtcConfig;
  // Several nodes (REDIS_URL): which node holds which live call, and forwarding between nodes
  cluster: ClusterConfig;
}

export interface ClusterConfig {
  /** NODE_ID: this node's name in the call registry (default hostname-pid). */
  nodeId: string;
  /** NODE_URL: the internal base URL other nodes reach this one at (default http://127.0.0.1:PORT). */
  nodeUrl: string;
  /** CLUSTER_SECRET: shared by every node; guards /internal/v1/*. Unset: the internal routes refuse everything. */
  secret?: string;
  /** CALL_REGISTRY_TTL_MS: a node's entries expire this long after its last heartbeat (heartbeat every third of it). */
  registryTtlMs: number;
  /** PROCESSES (serve --processes): gateway processes on this machine, each with its own sockets, worker pool and calls. 1: no cluster. */
  processes: number;
}

const MAX_PROCESSES = 64;

/** PROCESSES: a count, or `auto` for one per core the process may use. */
function processesOf(env: Env): number {
  const raw = str(env, 'PROCESSES');
  if (raw === undefined) return 1;
  if (raw.toLowerCase() === 'auto') return Math.min(MAX_PROCESSES, availableParallelism());
  return int(env, 'PROCESSES', 1, 1, MAX_PROCESSES);
}

function clusterConfig(env: Env, port: number, urlHost: string): ClusterConfig {
  const nodeId = str(env, 'NODE_ID') ?? `${hostname()}-${String(process.pid)}`;
  if (!/^[A-Za-z0-9._:-]{1,100}$/.test(nodeId)) throw invalid('NODE_ID', `must be 1-100 of A-Z a-z 0-9 . _ : -, got '${nodeId.slice(0, 40)}'`);
  const secret = str(env, 'CLUSTER_SECRET');
  if (secret !== undefined && secret.length < 16) throw invalid('CLUSTER_SECRET', 'must be at least 16 characters');
  return {
    nodeId,
    nodeUrl: url(env, 'NODE_URL', `http://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${String(port)}`),
    secret,
    registryTtlMs: int(env, 'CALL_REGISTRY_TTL_MS', 15_000, 300, 600_000),
    processes: processesOf(env),
  };
}

export interface WebRtcConfig {
  /** ICE_SERVERS: stun:/stuns:/turn:/turns: URLs given to the page and to werift. Empty: host candidates only. */
  iceServers: string[];
  /** TURN_SECRET: coturn's static-auth-secret; TURN credentials are minted from it per session (TURN REST API). */
  turnSecret?: string;
  /** TURN_CREDENTIAL_TTL_S: lifetime of a minted TURN credential; a call longer than this loses its relay. */
  turnCredentialTtlS: number;
}

/** One ICE server URL (RFC 7064 stun/stuns, RFC 7065 turn/turns): host, optional port, turn transport. */
const ICE_URL = /^(stuns?:[^\s?/@]+|turns?:[^\s?/@]+(\?transport=(udp|tcp))?)$/i;

function webrtcConfig(env: Env): WebRtcConfig {
  const iceServers = list(env, 'ICE_SERVERS');
  for (const u of iceServers) {
    if (!ICE_URL.test(u)) {
      throw invalid('ICE_SERVERS', `has '${u}', which is not a stun:, stuns:, turn: or turns: URL (host[:port], turn ones optionally ?transport=udp|tcp)`);
    }
  }
  const turnSecret = str(env, 'TURN_SECRET');
  if (iceServers.some((u) => /^turns?:/i.test(u)) && turnSecret === undefined) {
    throw invalid('TURN_SECRET', 'must be set when ICE_SERVERS has turn: or turns: URLs (credentials are minted from it per session)');
  }
  return { iceServers, turnSecret, turnCredentialTtlS: int(env, 'TURN_CREDENTIAL_TTL_S', 3600, 60, 86_400) };
}

export interface CallsConfig {
  /** SQLite file for call records (created on first start), or ':memory:'. */
  recordPath: string;
  /** Finished calls older than this many days are pruned. */
  recordDays: number;
  /** CALL_RECORD_STALE_MS: a live call whose process has not heartbeaten its record this long is marked ended by another process's sweep. */
  recordStaleMs: number;
  /** DATABASE_URL: the call log in PostgreSQL, shared by every node. Unset: the SQLite file at recordPath. */
  databaseUrl?: string;
  /** Twilio REST (outbound calls, hangup): the account; the auth token is TWILIO_AUTH_TOKEN. */
  twilioAccountSid?: string;
  /** Twilio REST base URL (default https://api.twilio.com): a fake in tests. */
  twilioApiBaseUrl?: string;
  /** Telnyx Call Control connection (application) outbound calls are placed on. */
  telnyxConnectionId?: string;
  /** Deadline for one carrier REST request; past it the API answers 504. */
  carrierTimeoutMs: number;
  /** How long an outbound call may ring (clamped so its stream token, STREAM_TOKEN_TTL_MS, outlives it). */
  ringTimeoutS: number;
  /** Ask carriers to post call progress (Twilio statusCallback, Telnyx webhook_url) to us. */
  statusCallbacks: boolean;
  /** Caller key presses reach the provider as text. */
  dtmfToProvider: boolean;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = oneOf(env, name, ['true', 'false', '1', '0'], fallback ? 'true' : 'false');
  return raw === 'true' || raw === '1';
}

function callsConfig(env: Env): CallsConfig {
  const optionalUrl = (name: string) => (str(env, name) === undefined ? undefined : url(env, name, ''));
  const accountSid = str(env, 'TWILIO_ACCOUNT_SID');
  if (accountSid !== undefined && !/^AC[0-9a-fA-F]{32}$/.test(accountSid)) {
    throw invalid('TWILIO_ACCOUNT_SID', 'must be AC followed by 32 hex digits');
  }
  return {
    recordPath: str(env, 'CALL_RECORD_PATH') ?? './data/calls.sqlite',
    recordDays: int(env, 'CALL_RECORD_DAYS', 30, 1, 36_500),
    // Records are heartbeaten every second: fewer than two missed beats is not a dead process.
    recordStaleMs: int(env, 'CALL_RECORD_STALE_MS', 15_000, 2000, 3_600_000),
    databaseUrl: serviceUrl(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    twilioAccountSid: accountSid,
    twilioApiBaseUrl: optionalUrl('TWILIO_API_BASE_URL'),
    telnyxConnectionId: str(env, 'TELNYX_CONNECTION_ID'),
    carrierTimeoutMs: int(env, 'CARRIER_API_TIMEOUT_MS', 10_000, 100, 120_000),
    ringTimeoutS: int(env, 'CALL_RING_TIMEOUT_S', 30, 5, 600),
    statusCallbacks: bool(env, 'CALL_STATUS_CALLBACKS', true),
    dtmfToProvider: bool(env, 'DTMF_TO_PROVIDER', true),
  };
}

type Env = Record<string, string | undefined>;

function invalid(name: string, detail: string): GatewayError {
  return new GatewayError('GW_ERR_CONFIG_INVALID', `${name} ${detail}`);
}

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw invalid(name, `must be a whole number, got '${raw}'`);
  const n = Number(raw);
  if (n < min || n > max) throw invalid(name, `must be between ${String(min)} and ${String(max)}, got ${raw}`);
  return n;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw invalid(name, `must be one of ${allowed.join(', ')}, got '${raw}'`);
  }
  return raw as T;
}

function optionalInt(env: Env, name: string, min: number, max: number): number | undefined {
  return str(env, name) === undefined ? undefined : int(env, name, 0, min, max);
}

function optionalProbability(env: Env, name: string): number | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw invalid(name, `must be a probability in (0, 1], got '${raw}'`);
  return n;
}

function list(env: Env, name: string): string[] {
  const raw = str(env, name);
  return raw === undefined ? [] : raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function url(env: Env, name: string, fallback: string): string {
  const raw = str(env, name) ?? fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw invalid(name, `must be an absolute URL, got '${raw}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalid(name, `must be an http or https URL, got '${raw}'`);
  }
  return raw.replace(/\/+$/, '');
}

function trustProxy(env: Env): boolean | number | string[] {
  const raw = str(env, 'TRUST_PROXY');
  if (raw === undefined || raw === 'false' || raw === '0') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const proxies = list(env, 'TRUST_PROXY');
  for (const p of proxies) {
    // proxy-addr (what fastify uses) also knows these names for the standard ranges.
    if (['loopback', 'linklocal', 'uniquelocal'].includes(p)) continue;
    const ok = p.includes('/') ? ipaddr.isValidCIDR(p) : ipaddr.isValid(p);
    if (!ok) throw invalid('TRUST_PROXY', `must be true, false, a hop count or a list of proxy addresses/CIDRs, got '${p}'`);
  }
  return proxies;
}

const KNOWN_PROVIDERS = ['echo', 'openai', 'gemini', 'deepgram', 'deepgram-cascade'] as const;

export function loadConfig(env: Env = process.env): Config {
  const port = int(env, 'PORT', 8080, 0, 65535);
  const host = str(env, 'HOST') ?? '127.0.0.1';
  const providers = list(env, 'PROVIDERS');
  for (const p of providers) {
    if (!(KNOWN_PROVIDERS as readonly string[]).includes(p)) {
      throw invalid('PROVIDERS', `names an unknown provider '${p}' (known: ${KNOWN_PROVIDERS.join(', ')})`);
    }
  }
  const telnyxKey = str(env, 'TELNYX_PUBLIC_KEY');
  if (telnyxKey !== undefined && Buffer.from(telnyxKey, 'base64').length !== 32) {
    throw invalid('TELNYX_PUBLIC_KEY', 'must be a base64 Ed25519 public key (32 bytes)');
  }
  const providersFinal = providers.length > 0 ? providers : ['echo'];
  const keyVar: Record<string, string> = { openai: 'OPENAI_API_KEY', gemini: 'GEMINI_API_KEY', deepgram: 'DEEPGRAM_API_KEY', 'deepgram-cascade': 'DEEPGRAM_API_KEY' };
  for (const p of providersFinal) {
    const v = keyVar[p];
    if (v && str(env, v) === undefined) throw invalid(v, `must be set when PROVIDERS includes '${p}'`);
  }
  const optionalUrl = (name: string) => (str(env, name) === undefined ? undefined : url(env, name, ''));
  const vadEngine = oneOf(env, 'VAD_ENGINE', ['silero', 'energy', 'off'], 'silero');
  // With our VAD off nobody else ends turns: each provider's own turn detection does, unless configured.
  const providerTurns = vadEngine === 'off';
  const responseTimeoutByProviderMs: Record<string, number> = {};
  for (const p of ['openai', 'gemini', 'deepgram', 'echo']) {
    const v = optionalInt(env, `${p.toUpperCase()}_RESPONSE_TIMEOUT_MS`, 10, 120_000);
    if (v !== undefined) responseTimeoutByProviderMs[p] = v;
  }
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    port,
    host,
    publicUrl: url(env, 'PUBLIC_URL', `http://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${String(port)}`),
    logLevel: oneOf(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    workerPoolSize: int(env, 'WORKER_POOL_SIZE', availableParallelism(), 1, 256),
    vadEngine,
    vadBatchWaitMs: int(env, 'VAD_BATCH_WAIT_MS', 8, 0, 32),
    turn: {
      // Barge-in must clear the bot within ~300 ms of the caller's first word, so speech is confirmed
      // after 100 ms here rather than the VAD's offline default of 250 ms.
      minSpeechMs: optionalInt(env, 'VAD_MIN_SPEECH_MS', 0, 5000) ?? 100,
      minSilenceMs: optionalInt(env, 'VAD_MIN_SILENCE_MS', 0, 10_000),
      speechPadMs: optionalInt(env, 'VAD_SPEECH_PAD_MS', 0, 2000),
      startThreshold: optionalProbability(env, 'VAD_START_THRESHOLD'),
      stopThreshold: optionalProbability(env, 'VAD_STOP_THRESHOLD'),
    },
    providers: providersFinal,
    instructions:
      str(env, 'ASSISTANT_INSTRUCTIONS') ??
      'You are a helpful voice assistant on a phone call. Answer briefly and naturally, in the language the caller uses.',
    openai: {
      apiKey: str(env, 'OPENAI_API_KEY'),
      baseUrl: optionalUrl('OPENAI_BASE_URL'),
      model: str(env, 'OPENAI_MODEL') ?? 'gpt-realtime',
      voice: str(env, 'OPENAI_VOICE') ?? 'alloy',
      turnDetection: oneOf(env, 'OPENAI_TURN_DETECTION', ['none', 'server_vad', 'semantic_vad'], providerTurns ? 'server_vad' : 'none'),
      // An extra CA to trust for the Realtime WebSocket (a TLS-inspecting proxy, or a test server).
      caFile: str(env, 'OPENAI_CA_FILE'),
      // Give the model an end_call function: when it calls it, the gateway hangs up after the goodbye plays.
      endCallTool: bool(env, 'END_CALL_TOOL', false),
    },
    gemini: {
      apiKey: str(env, 'GEMINI_API_KEY'),
      baseUrl: optionalUrl('GEMINI_BASE_URL'),
      // The current stable Live model ("the default option for most low-latency voice agent experiences",
      // ai.google.dev/gemini-api/docs/models/gemini-3.8-live); gemini-live-2.5-flash-preview and
      // gemini-2.0-flash-live-001 were shut down on 2025-12-09 (ai.google.dev/gemini-api/docs/deprecations).
      model: str(env, 'GEMINI_MODEL') ?? 'gemini-3.8-live',
      voice: str(env, 'GEMINI_VOICE'),
      activityDetection: oneOf<'client' | 'automatic'>(env, 'GEMINI_ACTIVITY_DETECTION', ['client', 'automatic'], providerTurns ? 'automatic' : 'client'),
      endCallTool: bool(env, 'END_CALL_TOOL', false),
    },
    deepgram: { ...deepgramConfig(env, providersFinal), endpointing: bool(env, 'DEEPGRAM_ENDPOINTING', providerTurns) },
    llm: llmConfig(env, providersFinal),
    failover: {
      switchDeadlineMs: int(env, 'SWITCH_DEADLINE_MS', 3000, 10, 60_000),
      responseTimeoutMs: int(env, 'PROVIDER_RESPONSE_TIMEOUT_MS', 1500, 10, 120_000),
      responseTimeoutByProviderMs,
      replyTimeoutMs: int(env, 'PROVIDER_REPLY_TIMEOUT_MS', 15_000, 10, 600_000),
      failback: oneOf(env, 'FAILBACK', ['0', '1', 'true', 'false'], '0') === '1' || str(env, 'FAILBACK') === 'true',
      allDown: oneOf(env, 'ALL_PROVIDERS_DOWN', ['hangup', 'echo'], 'hangup'),
      standby: oneOf(env, 'STANDBY', ['0', '1', 'true', 'false'], '0') === '1' || str(env, 'STANDBY') === 'true',
    },
    breaker: {
      errorThresholdPercentage: int(env, 'BREAKER_ERROR_THRESHOLD_PERCENT', 50, 1, 100),
      volumeThreshold: int(env, 'BREAKER_VOLUME_THRESHOLD', 3, 1, 10_000),
      resetTimeoutMs: int(env, 'BREAKER_RESET_TIMEOUT_MS', 30_000, 10, 3_600_000),
      connectTimeoutMs: int(env, 'PROVIDER_CONNECT_TIMEOUT_MS', 10_000, 10, 120_000),
      rollingWindowMs: int(env, 'BREAKER_WINDOW_MS', 60_000, 1000, 3_600_000),
    },
    twilio: {
      authToken: str(env, 'TWILIO_AUTH_TOKEN'),
      authTokenPrevious: str(env, 'TWILIO_AUTH_TOKEN_PREVIOUS'),
      allowedCidrs: list(env, 'TWILIO_ALLOWED_CIDRS'),
    },
    telnyx: {
      publicKey: telnyxKey,
      apiKey: str(env, 'TELNYX_API_KEY'),
      apiBaseUrl: str(env, 'TELNYX_API_BASE_URL') === undefined ? undefined : url(env, 'TELNYX_API_BASE_URL', ''),
      allowedCidrs: list(env, 'TELNYX_ALLOWED_CIDRS'),
      timestampToleranceS: int(env, 'TELNYX_TIMESTAMP_TOLERANCE_S', 300, 1, 3600),
      codec: oneOf(env, 'TELNYX_CODEC', ['PCMU', 'PCMA', 'L16'], 'PCMU'),
      bidirectionalCodec: oneOf(env, 'TELNYX_BIDIRECTIONAL_CODEC', ['PCMU', 'PCMA', 'L16'], oneOf(env, 'TELNYX_CODEC', ['PCMU', 'PCMA', 'L16'], 'PCMU')),
    },
    trustProxy: trustProxy(env),
    media: {
      maxMessageBytes: int(env, 'MEDIA_MAX_MESSAGE_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
      maxMessagesPerSecond: int(env, 'MEDIA_MAX_MESSAGES_PER_SECOND', 500, 10, 100_000),
      streamTokenTtlMs: int(env, 'STREAM_TOKEN_TTL_MS', 60_000, 1000, 3_600_000),
      redisUrl: serviceUrl(env, 'REDIS_URL', ['redis:', 'rediss:']),
      // 250 ms: the smallest lead with no playout gap across a 100 ms event-loop stall and a 200 ms TCP
      // retransmit, plus 50 ms of margin (bench/egress-lead.bench.ts). Barge-in is not slower: both
      // carriers drop their buffer on `clear`. WebRTC calls keep 60 ms (SHORT_EGRESS_LEAD_MS in calls/call.ts):
      // the browser keeps its buffer.
      egressLeadMs: int(env, 'EGRESS_LEAD_MS', 250, 0, 2000),
      egressMaxQueueMs: int(env, 'EGRESS_MAX_QUEUE_MS', 60_000, 1000, 600_000),
      // Carriers send `start` right after the handshake; 10 s is generous for a slow network.
      startTimeoutMs: int(env, 'MEDIA_START_TIMEOUT_MS', 10_000, 100, 600_000),
      maxSockets: int(env, 'MEDIA_MAX_SOCKETS', 2000, 1, 100_000),
      // One carrier edge address carries many calls, so the per-address cap is generous too.
      maxSocketsPerAddress: int(env, 'MEDIA_MAX_SOCKETS_PER_ADDRESS', 500, 1, 100_000),
    },
    http: {
      requestTimeoutMs: int(env, 'HTTP_REQUEST_TIMEOUT_MS', 10_000, 100, 600_000),
      connectionTimeoutMs: int(env, 'HTTP_CONNECTION_TIMEOUT_MS', 60_000, 100, 3_600_000),
      bodyLimitBytes: int(env, 'HTTP_BODY_LIMIT_BYTES', 256 * 1024, 1024, 64 * 1024 * 1024),
    },
    shutdownDeadlineMs: int(env, 'SHUTDOWN_DEADLINE_MS', 10_000, 0, 600_000),
    apiTokens: list(env, 'API_TOKENS'),
    echoReplyDelayMs: int(env, 'ECHO_REPLY_DELAY_MS', 0, 0, 60_000),
    calls: callsConfig(env),
    webrtc: webrtcConfig(env),
    cluster: clusterConfig(env, port, urlHost),
  };
}

/**
 * The simulated caller's credentials (`voice-gateway call`), read from the same variables the gateway
 * reads, so the quick start works with a token set: TWILIO_AUTH_TOKEN signs its Twilio webhooks and
 * handshakes; TELNYX_SECRET_KEY (base64 Ed25519 seed, 32 bytes, or secret key, 64 bytes: the pair of
 * TELNYX_PUBLIC_KEY) signs its Telnyx webhooks. Flags override both.
 */
export function callerCredentials(env: Env = process.env): { twilioAuthToken?: string; telnyxSecretKey?: Uint8Array } {
  const secret = str(env, 'TELNYX_SECRET_KEY');
  let telnyxSecretKey: Uint8Array | undefined;
  if (secret !== undefined) {
    const raw = new Uint8Array(Buffer.from(secret, 'base64'));
    if (raw.length !== 32 && raw.length !== 64) throw invalid('TELNYX_SECRET_KEY', 'must be a base64 Ed25519 seed (32 bytes) or secret key (64 bytes)');
    telnyxSecretKey = raw;
  }
  return { twilioAuthToken: str(env, 'TWILIO_AUTH_TOKEN'), telnyxSecretKey };
}

/**
 * Deepgram, both forms. Old names stay: DEEPGRAM_STT_MODEL is the cascade's listen model and, unset
 * DEEPGRAM_LISTEN_MODEL, the agent's; DEEPGRAM_TTS_MODEL and DEEPGRAM_VOICE name the same voice.
 */
function deepgramConfig(env: Env, providers: readonly string[]): Config['deepgram'] {
  const sttModel = str(env, 'DEEPGRAM_STT_MODEL') ?? 'nova-3';
  // The cascade speaks the listen v1 API (Results, Finalize); Flux models live on v2 only.
  if (providers.includes('deepgram-cascade') && sttModel.startsWith('flux')) {
    throw invalid('DEEPGRAM_STT_MODEL', `'${sttModel}' is a Flux (listen v2) model; deepgram-cascade needs a v1 model such as nova-3`);
  }
  const voice = str(env, 'DEEPGRAM_VOICE') ?? str(env, 'DEEPGRAM_TTS_MODEL') ?? 'aura-2-thalia-en';
  const thinkEndpointUrl = str(env, 'DEEPGRAM_THINK_ENDPOINT_URL') === undefined ? undefined : url(env, 'DEEPGRAM_THINK_ENDPOINT_URL', '');
  const thinkApiKey = str(env, 'DEEPGRAM_THINK_API_KEY');
  if (thinkApiKey !== undefined && thinkEndpointUrl === undefined) {
    throw invalid('DEEPGRAM_THINK_API_KEY', 'is only sent to a bring-your-own LLM: set DEEPGRAM_THINK_ENDPOINT_URL too (Deepgram-managed models need no key)');
  }
  const thinkProvider = oneOf(env, 'DEEPGRAM_THINK_PROVIDER', ['open_ai', 'anthropic', 'google', 'groq', 'aws_bedrock'], 'open_ai');
  if (thinkProvider === 'aws_bedrock' && thinkEndpointUrl === undefined) {
    throw invalid('DEEPGRAM_THINK_ENDPOINT_URL', 'must be set when DEEPGRAM_THINK_PROVIDER is aws_bedrock (Deepgram needs your Bedrock endpoint and credentials)');
  }
  return {
    apiKey: str(env, 'DEEPGRAM_API_KEY'),
    baseUrl: str(env, 'DEEPGRAM_BASE_URL'),
    sttModel,
    ttsModel: str(env, 'DEEPGRAM_TTS_MODEL') ?? voice,
    listenModel: str(env, 'DEEPGRAM_LISTEN_MODEL') ?? str(env, 'DEEPGRAM_STT_MODEL') ?? 'flux-general-en',
    thinkProvider,
    thinkModel: str(env, 'DEEPGRAM_THINK_MODEL') ?? 'gpt-4o-mini',
    thinkEndpointUrl,
    thinkApiKey,
    voice,
    greeting: str(env, 'DEEPGRAM_GREETING'),
  };
}

/** The cascade's LLM: OpenAI unless LLM_BASE_URL points elsewhere; OpenAI needs a key, a local server may not. */
function llmConfig(env: Env, providers: readonly string[]): Config['llm'] {
  const baseUrl = str(env, 'LLM_BASE_URL') === undefined ? undefined : url(env, 'LLM_BASE_URL', '');
  const apiKey = str(env, 'LLM_API_KEY') ?? (baseUrl === undefined ? str(env, 'OPENAI_API_KEY') : undefined);
  if (providers.includes('deepgram-cascade') && baseUrl === undefined && apiKey === undefined) {
    throw invalid('LLM_API_KEY', "must be set when PROVIDERS includes 'deepgram-cascade' and LLM_BASE_URL is unset (OpenAI)");
  }
  return { baseUrl, model: str(env, 'LLM_MODEL') ?? 'gpt-4o-mini', apiKey };
}

/** A shared service's URL (database, Redis), one of `protocols`; errors never echo its password. */
function serviceUrl(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const raw = str(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw invalid(name, `must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL`);
  }
  if (!protocols.includes(parsed.protocol) || parsed.hostname === '') {
    throw invalid(name, `must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL with a host, got '${parsed.protocol}//${parsed.hostname}'`);
  }
  return raw;
}
