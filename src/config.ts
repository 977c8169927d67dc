/**
 * The one place the environment is read. `loadConfig()` validates every variable at start-up and
 * throws GW_ERR_CONFIG_INVALID naming the variable, so a typo stops the gateway before it listens
 * rather than failing on the first call.
 */
import { availableParallelism, hostname } from 'node:os';
import ipaddr from 'ipaddr.js';
import type { SettingsContext } from './providers/descriptor.js';
import { PROVIDER_DESCRIPTORS, knownProviderNames, type AnyProviderDescriptor, type ProviderSettings } from './providers/descriptors.js';
import { bool, int, invalid, list, oneOf, optionalInt, optionalProbability, optionalUrl, serviceUrl, str, url, type Env } from './util/env-parse.js';

export type VadEngineName = 'silero' | 'energy' | 'off';

/**
 * The gateway's configuration. Each provider's part (openai, gemini, deepgram, llm, echoReplyDelayMs)
 * is declared by its descriptor (src/providers/<name>/index.ts) and merged in as ProviderSettings.
 */
export interface Config extends ProviderSettings {
  port: number;
  host: string;
  /** The http(s) base URL the telephony network reaches us at; media URLs use its ws(s) twin. */
  publicUrl: string;
  logLevel: string;
  workerPoolSize: number;
  /**
   * Unix nice increment of the worker threads (WORKER_NICE, default 0). A raise lowers them against
   * every process on the machine, not only our event loop: on a busy shared box Silero then misses its
   * deadline and calls fall back to the energy VAD, so it is the operator's choice, off by default.
   */
  workerNice: number;
  /**
   * V8's allocation-site pretenuring in the gateway's processes (V8_PRETENURING, default false: off;
   * src/util/v8-flags.ts says why). Applied by `voice-gateway serve` only.
   */
  v8Pretenuring: boolean;
  vadEngine: VadEngineName;
  /**
   * How long the Silero batcher gathers windows from many calls before a model run (0: one
   * event-loop turn), while windows come closer together than that (a lone call's do not wait).
   */
  vadBatchWaitMs: number;
  /**
   * Between turns, windows quieter than this (dBFS in the speech band) are scored silent without
   * Silero; undefined: every window goes to Silero (VAD_SILENCE_GATE_DBFS=off).
   */
  vadSilenceGateDb: number | undefined;
  /** Turn-detector knobs; unset ones keep the VAD's defaults (src/pipeline/vad/turn-detector.ts). */
  turn: { minSpeechMs?: number; minSilenceMs?: number; startThreshold?: number; stopThreshold?: number; speechPadMs?: number };
  providers: string[];
  /** System instructions given to every AI provider at session start. */
  instructions: string;
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
    /**
     * Secrets of SharedKeys that Webhook Rules sign with instead of the auth token (requests that carry
     * X-Twilio-Webhooks-Signature-Settings); current and previous, for rotation.
     */
    sharedKeySecret?: string;
    sharedKeySecretPrevious?: string;
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
    egressFramesPerMessage: number;
    /**
     * Caller audio per message to the provider, ms (20: each carrier frame as it comes; see
     * calls/audio-chunker.ts); 'auto' picks per provider (providers/registry.ts audioChunkMsFor).
     */
    providerAudioChunkMs: number | 'auto';
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
/**
 * VAD_SILENCE_GATE_DBFS: a level in dBFS from -120 to 0, or 'off'. Default -60: on the quiet fixture
 * call (30 dB SNR) it gates 137-145 of 429 windows (16 kHz, mu-law, A-law), none of which Silero scored
 * 0.35 or more (the turn detector's stop threshold), and the turns come out the same; the noisy call
 * (10 dB SNR) never goes under it (bench/results/2026-12-06-issue16-session8.md).
 */
function silenceGateOf(env: Env): number | undefined {
  const raw = str(env, 'VAD_SILENCE_GATE_DBFS');
  if (raw === undefined) return -60;
  if (raw === 'off') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < -120 || n > 0) throw invalid('VAD_SILENCE_GATE_DBFS', `must be a level in dBFS from -120 to 0, or 'off', got '${raw}'`);
  return n;
}

function processesOf(env: Env): number {
  const raw = str(env, 'PROCESSES');
  if (raw === undefined) return 1;
  if (raw.toLowerCase() === 'auto') return Math.min(MAX_PROCESSES, availableParallelism());
  return int(env, 'PROCESSES', 1, 1, MAX_PROCESSES);
}

function audioChunkOf(env: Env): number | 'auto' {
  const raw = str(env, 'PROVIDER_AUDIO_CHUNK_MS');
  if (raw?.toLowerCase() === 'auto') return 'auto';
  return int(env, 'PROVIDER_AUDIO_CHUNK_MS', 20, 20, 250);
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

function callsConfig(env: Env): CallsConfig {
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
    twilioApiBaseUrl: optionalUrl(env, 'TWILIO_API_BASE_URL'),
    telnyxConnectionId: str(env, 'TELNYX_CONNECTION_ID'),
    carrierTimeoutMs: int(env, 'CARRIER_API_TIMEOUT_MS', 10_000, 100, 120_000),
    ringTimeoutS: int(env, 'CALL_RING_TIMEOUT_S', 30, 5, 600),
    statusCallbacks: bool(env, 'CALL_STATUS_CALLBACKS', true),
    dtmfToProvider: bool(env, 'DTMF_TO_PROVIDER', true),
  };
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

/**
 * Each provider descriptor gets exactly the variables it declared: reading any other is a bug in the
 * descriptor, and fails at start-up rather than silently reading "unset".
 */
function envSlice(env: Env, descriptor: AnyProviderDescriptor): Env {
  const names = new Set(descriptor.env);
  const slice: Record<string, string | undefined> = {};
  for (const name of names) slice[name] = env[name];
  return new Proxy(slice, {
    get(target, key) {
      if (typeof key === 'string' && !names.has(key)) throw new Error(`provider ${descriptor.name} reads ${key}, which its descriptor does not declare`);
      return target[key as string];
    },
  });
}

/** The providers' settings: every descriptor parses and validates its own variables. */
function providerSettings(env: Env, ctx: SettingsContext): ProviderSettings {
  const settings = {};
  for (const descriptor of PROVIDER_DESCRIPTORS as readonly AnyProviderDescriptor[]) Object.assign(settings, descriptor.settings(envSlice(env, descriptor), ctx));
  return settings as ProviderSettings;
}

export function loadConfig(env: Env = process.env): Config {
  const port = int(env, 'PORT', 8080, 0, 65535);
  const host = str(env, 'HOST') ?? '127.0.0.1';
  const providers = list(env, 'PROVIDERS');
  const known = knownProviderNames();
  for (const p of providers) {
    if (!known.includes(p)) {
      throw invalid('PROVIDERS', `names an unknown provider '${p}' (known: ${known.join(', ')})`);
    }
  }
  const telnyxKey = str(env, 'TELNYX_PUBLIC_KEY');
  if (telnyxKey !== undefined && Buffer.from(telnyxKey, 'base64').length !== 32) {
    throw invalid('TELNYX_PUBLIC_KEY', 'must be a base64 Ed25519 public key (32 bytes)');
  }
  const providersFinal = providers.length > 0 ? providers : ['echo'];
  for (const p of providersFinal) {
    const v = PROVIDER_DESCRIPTORS.find((d) => Object.hasOwn(d.variants, p))?.variants[p]?.apiKeyEnv;
    if (v && str(env, v) === undefined) throw invalid(v, `must be set when PROVIDERS includes '${p}'`);
  }
  const vadEngine = oneOf(env, 'VAD_ENGINE', ['silero', 'energy', 'off'], 'silero');
  // With our VAD off nobody else ends turns: each provider's own turn detection does, unless configured.
  const providerTurns = vadEngine === 'off';
  const responseTimeoutByProviderMs: Record<string, number> = {};
  for (const { name: p } of PROVIDER_DESCRIPTORS) {
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
    workerNice: int(env, 'WORKER_NICE', 0, 0, 19),
    v8Pretenuring: bool(env, 'V8_PRETENURING', false),
    vadEngine,
    vadBatchWaitMs: int(env, 'VAD_BATCH_WAIT_MS', 16, 0, 32),
    vadSilenceGateDb: silenceGateOf(env),
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
    ...providerSettings(env, { providers: providersFinal, providerTurns }),
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
      sharedKeySecret: str(env, 'TWILIO_SHARED_KEY_SECRET'),
      sharedKeySecretPrevious: str(env, 'TWILIO_SHARED_KEY_SECRET_PREVIOUS'),
      allowedCidrs: list(env, 'TWILIO_ALLOWED_CIDRS'),
    },
    telnyx: {
      publicKey: telnyxKey,
      apiKey: str(env, 'TELNYX_API_KEY'),
      apiBaseUrl: optionalUrl(env, 'TELNYX_API_BASE_URL'),
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
      // Frames per media message to Twilio/Telnyx when they are already queued (calls/egress.ts).
      egressFramesPerMessage: int(env, 'EGRESS_FRAMES_PER_MESSAGE', 3, 1, 50),
      // A message per 20 ms frame by default: the caller's audio reaches the provider as soon as it can.
      // Larger chunks trade that for fewer messages (calls/audio-chunker.ts); LiveKit sends 100 ms. At most
      // 250: Deepgram recommends sending 20-250 ms at once (https://github.com/orgs/deepgram/discussions/224).
      providerAudioChunkMs: audioChunkOf(env),
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
