/**
 * Every metric the gateway exports, declared in one place. `createMetrics()` is called once per
 * process by the entry file (tests make their own, each with a private registry) and the result is
 * passed to whatever records. Names follow `voice_gateway_<area>_<name>_<unit>`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LatencyRecorder, type LatencySummary } from './latency.js';
import { EventLoopDelayHistogram, LOOP_BUCKETS_S } from './event-loop-histogram.js';
import { FrameHistogram } from './frame-histogram.js';
import { Tally } from './tally.js';

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A latency summary as Prometheus-style (quantile label, seconds) pairs; '1' is the maximum. */
function quantilesInSeconds(s: LatencySummary): [string, number][] {
  return [['0.5', s.p50Ms / 1000], ['0.9', s.p90Ms / 1000], ['0.99', s.p99Ms / 1000], ['0.999', s.p999Ms / 1000], ['1', s.maxMs / 1000]];
}

export function createMetrics(options: { registry?: Registry; defaultMetrics?: boolean } = {}) {
  const registry = options.registry ?? new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'voice_gateway_' });
  const r = [registry];
  // Latency as Prometheus histograms: buckets sum across processes and nodes, so a fleet-wide p95 or
  // p99 is histogram_quantile() over rate(..._bucket). The quantile gauges further down are the same
  // figures from this process's HDR histograms; they cannot be aggregated and are kept, deprecated,
  // for one release (README "Metrics"), then removed.
  // Observed per frame: FrameHistogram (plain numbers per series), the same exposition as prom-client's.
  const pipelineLatencyHistogram = new FrameHistogram({
    name: 'voice_gateway_pipeline_frame_latency_seconds',
    help: 'Pipeline-added latency per frame, by direction (ingress: media in -> provider send; egress: provider audio -> first frame of a reply out)',
    labelNames: ['direction'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
    registers: r,
  });
  const pacingJitterHistogram = new FrameHistogram({
    name: 'voice_gateway_egress_frame_jitter_seconds',
    help: 'Egress pacing precision: |time written - time due| of each frame paced by the egress clock (due: the clock tick at which the audio sent ahead fell to the lead); excludes frames sent on arrival (lead burst)',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1],
    registers: r,
  });
  const loopLagHistogram = new Histogram({
    name: 'voice_gateway_event_loop_lag_seconds',
    help: 'Event-loop lag: how late each 10 ms sampling timer of perf_hooks.monitorEventLoopDelay fired (samples are folded in at each scrape)',
    buckets: LOOP_BUCKETS_S,
    registers: r,
    collect() {
      loopLag.fold();
    },
  });
  const latency = new LatencyRecorder({ pipeline: pipelineLatencyHistogram, pacing: pacingJitterHistogram });
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const loopLag = new EventLoopDelayHistogram(loopLagHistogram);
  // Frames in and out are counted per frame: plain numbers on the hot path, folded in at scrape time.
  const framesInTally = new Tally<'transport'>();
  const framesOutTally = new Tally<'transport'>();
  const egressTicksTally = new Tally<'trigger'>();
  const vadWindowsTally = new Tally<'engine'>();

  new Gauge({
    name: 'voice_gateway_pipeline_latency_seconds',
    help: 'DEPRECATED (one release; use voice_gateway_pipeline_frame_latency_seconds): pipeline-added latency per frame (HDR histogram quantiles), by direction (ingress: media in -> provider send; egress: provider audio -> first frame out)',
    labelNames: ['direction', 'quantile'] as const,
    registers: r,
    // Across --processes a quantile cannot be summed: the worst process's is shown.
    aggregator: 'max',
    collect() {
      for (const direction of ['ingress', 'egress'] as const) {
        for (const [quantile, seconds] of quantilesInSeconds(latency.summary(direction))) this.set({ direction, quantile }, seconds);
      }
    },
  });
  new Gauge({
    name: 'voice_gateway_egress_pacing_jitter_seconds',
    help: 'DEPRECATED (one release; use voice_gateway_egress_frame_jitter_seconds): egress pacing precision, |time written - time due| of each paced frame (HDR histogram quantiles); excludes frames sent on arrival (lead burst)',
    labelNames: ['quantile'] as const,
    registers: r,
    // Across --processes a quantile cannot be summed: the worst process's is shown.
    aggregator: 'max',
    collect() {
      for (const [quantile, seconds] of quantilesInSeconds(latency.pacingSummary())) this.set({ quantile }, seconds);
    },
  });
  new Gauge({
    name: 'voice_gateway_pipeline_fixed_delay_seconds',
    help: 'Fixed buffering delays the pipeline adds by design (resampler filters, VAD window), by stage; not processing time',
    labelNames: ['stage'] as const,
    registers: r,
    // A fixed delay is the same design figure in every process: not summed across --processes.
    aggregator: 'max',
    collect() {
      for (const [stage, ms] of latency.fixedDelayMs) this.set({ stage }, ms / 1000);
    },
  });
  new Gauge({
    name: 'voice_gateway_event_loop_delay_seconds',
    help: 'DEPRECATED (one release; use voice_gateway_event_loop_lag_seconds): event-loop delay quantiles since start (perf_hooks.monitorEventLoopDelay)',
    labelNames: ['quantile'] as const,
    registers: r,
    // Across --processes a quantile cannot be summed: the worst process's is shown.
    aggregator: 'max',
    collect() {
      for (const [quantile, p] of [['0.5', 50], ['0.99', 99], ['1', 100]] as const) {
        this.set({ quantile }, (p === 100 ? loopDelay.max : loopDelay.percentile(p)) / 1e9);
      }
    },
  });

  return {
    registry,
    latency,
    loopDelay,
    /** Per-frame counts of framesInTotal / framesOutTotal (take a slot, bump `count`; see tally.ts). */
    framesInTally,
    framesOutTally,
    /** Egress clock ticks, by what ran them (the clock bumps the slots; see egress-clock.ts). */
    egressTicks: { timer: egressTicksTally.slot({ trigger: 'timer' }), callerMedia: egressTicksTally.slot({ trigger: 'caller_media' }) },
    /** VAD windows scored, per engine, counted per window: folded into vadWindowsTotal when it is collected. */
    vadWindows: {
      silero: vadWindowsTally.slot({ engine: 'silero' }),
      energy: vadWindowsTally.slot({ engine: 'energy' }),
      gated: vadWindowsTally.slot({ engine: 'silence_gate' }),
    },
    /** Stop the event-loop monitor (the process-wide metrics live as long as the process; tests close theirs). */
    close(): void {
      loopDelay.disable();
      loopLag.close();
    },

    // Voice activity detection
    vadWindowsTotal: new Counter({
      name: 'voice_gateway_vad_windows_total',
      help: 'VAD windows scored, by engine (silence_gate: between turns, under VAD_SILENCE_GATE_DBFS, scored 0 without Silero)',
      labelNames: ['engine'] as const,
      registers: r,
      collect() {
        vadWindowsTally.fold(this);
      },
    }),
    vadFallbacksTotal: new Counter({
      name: 'voice_gateway_vad_fallbacks_total',
      help: 'Calls whose Silero VAD failed and fell back to the energy VAD, by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    vadBatchSize: new Histogram({
      name: 'voice_gateway_vad_batch_size_windows',
      help: 'Windows per Silero inference batch',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: r,
    }),
    vadInferenceSeconds: new Histogram({
      name: 'voice_gateway_vad_inference_seconds',
      help: 'Time from dispatching a VAD batch to its result (includes the worker hop)',
      buckets: LATENCY_BUCKETS_S,
      registers: r,
    }),
    workerTaskErrorsTotal: new Counter({
      name: 'voice_gateway_worker_task_errors_total',
      help: 'Worker tasks that failed, by task',
      labelNames: ['task'] as const,
      registers: r,
    }),

    // Media transports and calls
    callsActive: new Gauge({
      name: 'voice_gateway_calls_active',
      help: 'Calls in progress, by transport',
      labelNames: ['transport'] as const,
      registers: r,
    }),
    callsTotal: new Counter({
      name: 'voice_gateway_calls_total',
      help: 'Calls started, by transport',
      labelNames: ['transport'] as const,
      registers: r,
    }),
    mediaRejectedTotal: new Counter({
      name: 'voice_gateway_media_rejected_total',
      help: 'Media messages or connections rejected, by transport and reason (error code)',
      labelNames: ['transport', 'reason'] as const,
      registers: r,
    }),
    framesInTotal: new Counter({
      name: 'voice_gateway_frames_in_total',
      help: 'Caller audio frames received, by transport',
      labelNames: ['transport'] as const,
      registers: r,
      collect() {
        framesInTally.fold(this);
      },
    }),
    framesOutTotal: new Counter({
      name: 'voice_gateway_frames_out_total',
      help: 'Audio frames sent to callers, by transport',
      labelNames: ['transport'] as const,
      registers: r,
      collect() {
        framesOutTally.fold(this);
      },
    }),
    egressClockTicksTotal: new Counter({
      name: 'voice_gateway_egress_clock_ticks_total',
      help: 'Ticks of the egress clock (one per 20 ms while any call has audio to send), by trigger: timer, or caller_media (its timer over 1 ms late while the event loop was reading caller frames, and a frame ran it)',
      labelNames: ['trigger'] as const,
      registers: r,
      collect() {
        egressTicksTally.fold(this);
      },
    }),
    framesDroppedTotal: new Counter({
      name: 'voice_gateway_frames_dropped_total',
      help: 'Audio frames dropped, by stage (egress_overflow, barge_in, ...)',
      labelNames: ['stage'] as const,
      registers: r,
    }),
    bargeInsTotal: new Counter({
      name: 'voice_gateway_barge_ins_total',
      help: 'Times the caller spoke over the bot and playback was cleared',
      registers: r,
    }),
    // Observed once per barge-in (not per frame): prom-client's own histogram is fine here.
    bargeInReactionSeconds: new Histogram({
      name: 'voice_gateway_barge_in_reaction_seconds',
      help: "Barge-ins our VAD detected: from the caller's first speech window to the clear of the reply (the VAD's confirmation in media time plus the wait for the deciding score); provider-VAD barge-ins are not timed",
      buckets: [0.05, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2],
      registers: r,
    }),
    turnsTotal: new Counter({
      name: 'voice_gateway_turns_total',
      help: 'Caller turns detected',
      registers: r,
    }),

    // WebRTC (browser) transport
    webrtcSessionsActive: new Gauge({
      name: 'voice_gateway_webrtc_sessions_active',
      help: 'WebRTC sessions open (negotiating or in a call)',
      registers: r,
    }),
    webrtcNegotiationSeconds: new Histogram({
      name: 'voice_gateway_webrtc_negotiation_seconds',
      help: 'Time from a WebRTC offer to our answer, ICE gathering included',
      buckets: LATENCY_BUCKETS_S,
      registers: r,
    }),
    webrtcPacketsConcealedTotal: new Counter({
      name: 'voice_gateway_webrtc_packets_concealed_total',
      help: 'Inbound RTP packets lost and concealed with Opus PLC',
      registers: r,
    }),
    webrtcPacketsDiscardedTotal: new Counter({
      name: 'voice_gateway_webrtc_packets_discarded_total',
      help: 'Inbound RTP packets discarded, by reason (late, duplicate, undecodable)',
      labelNames: ['reason'] as const,
      registers: r,
    }),

    // HTTP edge
    webhookRejectedTotal: new Counter({
      name: 'voice_gateway_webhook_rejected_total',
      help: 'Webhook or media handshakes rejected at the edge, by route and reason',
      labelNames: ['route', 'reason'] as const,
      registers: r,
    }),

    // Providers
    providerRequestsTotal: new Counter({
      name: 'voice_gateway_provider_requests_total',
      help: 'Provider operations, by provider, operation and status',
      labelNames: ['provider', 'op', 'status'] as const,
      registers: r,
    }),
    providerErrorsTotal: new Counter({
      name: 'voice_gateway_provider_errors_total',
      help: 'Provider errors, by provider and type',
      labelNames: ['provider', 'type'] as const,
      registers: r,
    }),
    providerLatencySeconds: new Histogram({
      name: 'voice_gateway_provider_latency_seconds',
      help: 'Provider operation latency, by provider and operation (connect, first_audio)',
      labelNames: ['provider', 'op'] as const,
      buckets: LATENCY_BUCKETS_S,
      registers: r,
    }),
    providerSwitchesTotal: new Counter({
      name: 'voice_gateway_provider_switches_total',
      help: 'Provider switches during calls, by from, to, reason and result (ok, rolled_back, failed)',
      labelNames: ['from', 'to', 'reason', 'result'] as const,
      registers: r,
    }),
    providerSwitchDurationSeconds: new Histogram({
      name: 'voice_gateway_provider_switch_duration_seconds',
      help: 'Time from a switch trigger to the new provider taking the call (or the switch giving up), by result',
      labelNames: ['result'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    }),
    circuitBreakerState: new Gauge({
      name: 'voice_gateway_circuit_breaker_state',
      help: 'Provider circuit breaker state: 0 closed, 1 half-open, 2 open',
      labelNames: ['provider'] as const,
      registers: r,
      // Across --processes each process has its own breaker: the most open one is shown, never a sum.
      aggregator: 'max',
    }),
    providerActiveSessions: new Gauge({
      name: 'voice_gateway_provider_active_sessions',
      help: 'Open provider sessions, by provider',
      labelNames: ['provider'] as const,
      registers: r,
    }),

    // Calls and records (call control, carrier REST, the call log)
    callControlTotal: new Counter({
      name: 'voice_gateway_call_control_total',
      help: 'Call-control requests (dial, hangup, dtmf), by action, transport and outcome (ok, rejected, timeout, unreachable, not_configured, error)',
      labelNames: ['action', 'transport', 'outcome'] as const,
      registers: r,
    }),
    carrierApiSeconds: new Histogram({
      name: 'voice_gateway_carrier_api_seconds',
      help: 'Carrier REST request time, by carrier and operation',
      labelNames: ['carrier', 'op'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: r,
    }),
    carrierCallbacksTotal: new Counter({
      name: 'voice_gateway_carrier_callbacks_total',
      help: 'Carrier status callbacks and call events folded into records, by carrier and outcome (folded, unknown_call)',
      labelNames: ['carrier', 'outcome'] as const,
      registers: r,
    }),
    callRecordWriteSeconds: new Histogram({
      name: 'voice_gateway_call_record_write_seconds',
      help: 'Call record store transactions, by kind (batch, ended, dialing, carrier_event, ...)',
      labelNames: ['kind'] as const,
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers: r,
    }),
    callRecordWriteErrorsTotal: new Counter({
      name: 'voice_gateway_call_record_write_errors_total',
      help: 'Call record store transactions that failed, by kind',
      labelNames: ['kind'] as const,
      registers: r,
    }),
    callRecordsPrunedTotal: new Counter({
      name: 'voice_gateway_call_records_pruned_total',
      help: 'Finished call records deleted by retention (CALL_RECORD_DAYS)',
      registers: r,
    }),
    callRecordsOrphanedTotal: new Counter({
      name: 'voice_gateway_call_records_orphaned_total',
      help: 'Calls left live or dialing by a stopped gateway process, marked ended by the sweep',
      registers: r,
    }),

    // Operations (dashboards and alerts: deploy/)
    httpRequestsTotal: new Counter({
      name: 'voice_gateway_http_requests_total',
      help: 'HTTP requests answered, by route pattern (unmatched for 404s outside any route), method and status code; "no calls accepted while traffic arrives" compares call-starting routes with voice_gateway_calls_total',
      labelNames: ['route', 'method', 'status'] as const,
      registers: r,
    }),
    // Hostile input and load (issue 19)
    httpRejectedTotal: new Counter({
      name: 'voice_gateway_http_rejected_total',
      help: 'HTTP requests answered 4xx, by route template (unmatched: no route) and error code',
      labelNames: ['route', 'code'] as const,
      registers: r,
    }),
    httpTimeoutsTotal: new Counter({
      name: 'voice_gateway_http_timeouts_total',
      help: 'HTTP connections closed by a deadline, by kind (request: headers and body not complete within REQUEST_TIMEOUT_MS; idle: no bytes within HTTP_CONNECTION_TIMEOUT_MS)',
      labelNames: ['kind'] as const,
      registers: r,
    }),
    mediaSocketsActive: new Gauge({
      name: 'voice_gateway_media_sockets_active',
      help: 'Open media WebSockets (Twilio and Telnyx), started or not',
      registers: r,
    }),
    mediaSocketsRefusedTotal: new Counter({
      name: 'voice_gateway_media_sockets_refused_total',
      help: 'Media WebSockets closed by the socket guard, by reason (per_address_cap, total_cap, start_timeout)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    dtmfRejectedTotal: new Counter({
      name: 'voice_gateway_dtmf_rejected_total',
      help: 'Caller DTMF events refused (not one of 0-9 * # A-D, or over the per-call cap), by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    callGraphFailuresTotal: new Counter({
      name: 'voice_gateway_call_graph_failures_total',
      help: 'Calls ended because their ingress stream graph failed (a stage threw)',
      registers: r,
    }),
    vadRecoveriesTotal: new Counter({
      name: 'voice_gateway_vad_recoveries_total',
      help: 'Calls that returned to Silero after a worker fault once the pool answered a probe inference again',
      registers: r,
    }),
    carrierCommandsTotal: new Counter({
      name: 'voice_gateway_carrier_commands_total',
      help: 'Carrier REST commands (answer, hangup, send_dtmf, dial, update), by carrier, command and status (ok, gone, duplicate, rejected, timeout, unreachable, error)',
      labelNames: ['carrier', 'command', 'status'] as const,
      registers: r,
    }),
    mediaReorderedTotal: new Counter({
      name: 'voice_gateway_media_reordered_total',
      help: 'Inbound media frames that arrived out of order and were put back in order, by transport',
      labelNames: ['transport'] as const,
      registers: r,
    }),
    mediaLateTotal: new Counter({
      name: 'voice_gateway_media_late_total',
      help: 'Inbound media frames dropped because they arrived after their place was played (late) or twice (duplicate), by transport and kind',
      labelNames: ['transport', 'kind'] as const,
      registers: r,
    }),
    webhookDuplicatesTotal: new Counter({
      name: 'voice_gateway_webhook_duplicates_total',
      help: 'Carrier webhooks delivered again (same event id) and acknowledged without acting twice, by carrier',
      labelNames: ['carrier'] as const,
      registers: r,
    }),
    providerUnknownEventsTotal: new Counter({
      name: 'voice_gateway_provider_unknown_events_total',
      help: 'Server events or fields a provider adapter does not know (a newer API version), by provider and event; logged, never a failure',
      labelNames: ['provider', 'event'] as const,
      registers: r,
    }),

    // Scale-out (issue 17): shared stores
    streamGrantStoreErrorsTotal: new Counter({
      name: 'voice_gateway_stream_grant_store_errors_total',
      help: 'Shared stream grant store (Redis, REDIS_URL) commands that failed or timed out, by op (put, take, peek, revoke); a failed take refuses the stream',
      labelNames: ['op'] as const,
      registers: r,
    }),
    // Scale-out (issue 17): circuit breaker transitions shared through Redis pub/sub (breaker-sync.ts)
    breakerSyncErrorsTotal: new Counter({
      name: 'voice_gateway_breaker_sync_errors_total',
      help: 'Breaker sync (Redis pub/sub, REDIS_URL) failures, by op (connection, subscribe, publish); local breakers and calls are never affected',
      labelNames: ['op'] as const,
      registers: r,
    }),
    breakerSyncRejectedTotal: new Counter({
      name: 'voice_gateway_breaker_sync_rejected_total',
      help: 'Breaker sync messages from Redis refused and logged, by reason (malformed_json, wrong_shape, unknown_provider)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    breakerRemoteChangesTotal: new Counter({
      name: 'voice_gateway_breaker_remote_changes_total',
      help: "Another node's breaker transitions applied to this node's breaker, by provider and state (open, closed)",
      labelNames: ['provider', 'state'] as const,
      registers: r,
    }),
    callRegistryErrorsTotal: new Counter({
      name: 'voice_gateway_call_registry_errors_total',
      help: 'Call registry (Redis, REDIS_URL) commands that failed, by op (add, remove, heartbeat, lookup, list); calls in progress are unaffected',
      labelNames: ['op'] as const,
      registers: r,
    }),
    apiForwardedTotal: new Counter({
      name: 'voice_gateway_api_forwarded_total',
      help: 'API requests for a call held by another node, forwarded to it, by action (hangup, dtmf, provider) and outcome (ok, error, unreachable)',
      labelNames: ['action', 'outcome'] as const,
      registers: r,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
