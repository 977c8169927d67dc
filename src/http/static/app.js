// Browser client for the voice gateway: microphone -> RTCPeerConnection -> gateway, bot audio back.
// Plain ES module, no build step. Signalling with trickle ICE, so the call starts while the browser is
// still gathering candidates (a STUN or TURN server can take seconds):
//   POST /webrtc/offer {sdp, type, token, trickle: true} -> {sdp, type, sessionId, callId, provider}
//   POST /webrtc/sessions/:sessionId/candidates {candidates: [...], done}   as candidates are found
// The token comes from the page URL (#token=..., handed out by the operator's backend from
// POST /api/v1/sessions) or, in demo mode (gateway on localhost, no API tokens), from that endpoint.
// The ICE servers (STUN, and TURN with a credential minted for this session) come with the token, or
// from POST /webrtc/ice-servers for a token from a link.

const ui = {
  start: document.getElementById('start'),
  end: document.getElementById('end'),
  status: document.getElementById('status'),
  provider: document.getElementById('provider'),
  connection: document.getElementById('connection'),
  latency: document.getElementById('latency'),
  level: document.getElementById('level'),
  remote: document.getElementById('remote'),
};

/** How often the page asks whether the gateway still has the call (it may end it: shutdown, errors). */
const POLL_MS = 2000;
/** Words for RTCPeerConnection.connectionState. */
const CONNECTION_WORDS = {
  new: 'Not connected',
  connecting: 'Connecting',
  connected: 'Connected',
  disconnected: 'Interrupted',
  failed: 'Failed',
  closed: 'Closed',
};

/** An error whose message is written for the person using the page. */
class CallError extends Error {}

/** The call in progress, or null. */
let current = null;

function setStatus(state, text) {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

function microphoneMessage(err) {
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
      return 'Microphone access was denied. Allow the microphone for this site in your browser settings, then press Start call again.';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return 'No microphone was found. Connect a microphone, then press Start call again.';
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return 'The microphone could not be opened. Another application may be using it; close it and try again.';
    case 'SecurityError':
      return 'Microphone access is blocked on this page. Open it over https or on localhost.';
    default:
      return `The microphone could not be started (${(err && (err.message || err.name)) || 'unknown error'}).`;
  }
}

/** Turns a gateway error response into words. */
async function gatewayMessage(res) {
  let code = '';
  let detail = `HTTP ${res.status}`;
  try {
    const body = await res.json();
    code = (body && body.error && body.error.code) || '';
    detail = (body && body.error && body.error.message) || detail;
  } catch {
    // not JSON: keep the status
  }
  switch (code) {
    case 'GW_ERR_TRANSPORT_TOO_MANY_SESSIONS':
      return `Too many calls are open (${detail}). End another call and try again.`;
    case 'GW_ERR_TRANSPORT_BAD_SESSION_TOKEN':
      return 'The session link has expired or was already used. Reload the page, or ask for a new link, and try again.';
    case 'GW_ERR_HTTP_UNAUTHORIZED':
      return 'This gateway needs a session link from its operator: it only hands out calls by itself on localhost.';
    case 'GW_ERR_HTTP_NOT_READY':
      return 'The gateway is not taking calls right now. Try again in a moment.';
    case 'GW_ERR_TRANSPORT_BAD_SDP':
      return `This browser's call setup was not accepted: ${detail}.`;
    default:
      return `The call could not be started: ${detail}.`;
  }
}

async function post(url, body) {
  try {
    return await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch {
    throw new CallError('The gateway could not be reached. Check your connection and try again.');
  }
}

/** A one-time session token and the ICE servers to use with it. */
async function sessionGrant() {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromLink) {
    // One-time: drop it from the address bar so a reload does not try it again.
    history.replaceState(null, '', location.pathname + location.search);
    const res = await post('/webrtc/ice-servers', { token: fromLink });
    if (!res.ok) throw new CallError(await gatewayMessage(res));
    return { token: fromLink, iceServers: (await res.json()).iceServers || [] };
  }
  const res = await post('/api/v1/sessions', {});
  if (!res.ok) throw new CallError(await gatewayMessage(res));
  const body = await res.json();
  return { token: body.token, iceServers: body.iceServers || [] };
}

/** Send candidates to the gateway as they come; before the answer names the session, keep them. */
function trickle(call, candidate) {
  // null, or (Firefox, before the null) a candidate whose string is empty: gathering is over.
  if (candidate && candidate.candidate) call.pendingCandidates.push(candidate.toJSON());
  else call.candidatesDone = true;
  void flushCandidates(call);
}

async function flushCandidates(call) {
  if (!call.sessionId || call.ended || call.sendingCandidates) return;
  if (call.pendingCandidates.length === 0 && !(call.candidatesDone && !call.doneSent)) return;
  call.sendingCandidates = true;
  const candidates = call.pendingCandidates.splice(0, 20);
  const done = call.candidatesDone && call.pendingCandidates.length === 0;
  try {
    const res = await fetch(`/webrtc/sessions/${encodeURIComponent(call.sessionId)}/candidates`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ candidates, done }),
    });
    // A refused batch is said where a developer looks; the connection state says if the call can go on.
    if (!res.ok) console.warn('the gateway refused ICE candidates:', await gatewayMessage(res));
    if (done) call.doneSent = true;
  } catch {
    // The connection state says if the call cannot go on without them.
  } finally {
    call.sendingCandidates = false;
  }
  if (call.pendingCandidates.length > 0 || (call.candidatesDone && !call.doneSent)) void flushCandidates(call);
}

function startMeter(call) {
  const AudioCtx = window.AudioContext || window.webkitAudioContext;
  if (!AudioCtx) return;
  const ctx = new AudioCtx();
  call.audioContext = ctx;
  ctx.resume().catch(() => {});
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 1024;
  ctx.createMediaStreamSource(call.stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let shown = -1;
  const tick = () => {
    if (call.ended) return;
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
    const rms = Math.sqrt(sum / samples.length);
    // -60 dBFS .. 0 dBFS onto 0..1: speech sits in the middle instead of at the bottom.
    const level = Math.max(0, Math.min(1, (20 * Math.log10(rms + 1e-9) + 60) / 60));
    const percent = Math.round(level * 100);
    if (percent !== shown) {
      shown = percent;
      ui.level.value = level;
      ui.level.textContent = `${percent}%`;
    }
    call.frame = requestAnimationFrame(tick);
  };
  tick();
}

/** Ask the gateway about the call; it answers 404 once the call has ended on its side. */
async function poll(call) {
  if (call.ended || !call.sessionId) return;
  let res;
  try {
    res = await fetch(`/webrtc/sessions/${encodeURIComponent(call.sessionId)}`, { cache: 'no-store' });
  } catch {
    return; // the network may come back; the connection state tells us if it does not
  }
  if (call.ended) return;
  if (res.status === 404) {
    call.sessionId = null;
    finish(call, 'ended', 'Ended. The gateway closed the call.');
    return;
  }
  if (res.ok) {
    const body = await res.json();
    // The provider can change mid-call (failover); show the one answering now.
    if (body.provider && ui.provider.textContent !== body.provider) ui.provider.textContent = body.provider;
  }
  await showLatency(call);
}

/** Network round trip to the gateway and the route the call takes, from the selected candidate pair. */
async function showLatency(call) {
  if (!call.pc || call.ended) return;
  let report;
  try {
    report = await call.pc.getStats();
  } catch {
    return;
  }
  let pair;
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
  });
  if (!pair) report.forEach((s) => {
    if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  if (!pair) return;
  const local = report.get(pair.localCandidateId);
  const route = local && local.candidateType === 'relay' ? 'via relay (TURN)' : 'direct';
  const rtt = typeof pair.currentRoundTripTime === 'number' ? `${Math.round(pair.currentRoundTripTime * 1000)} ms round trip` : 'measuring';
  ui.latency.textContent = `${rtt}, ${route}`;
}

function release(call) {
  if (call.poller) clearInterval(call.poller);
  if (call.frame) cancelAnimationFrame(call.frame);
  if (call.pc) call.pc.close();
  if (call.stream) for (const track of call.stream.getTracks()) track.stop();
  if (call.audioContext) call.audioContext.close().catch(() => {});
  ui.remote.srcObject = null;
  ui.level.value = 0;
  ui.level.textContent = '0%';
  ui.connection.textContent = CONNECTION_WORDS.closed;
  ui.latency.textContent = '-';
}

function finish(call, state, text) {
  if (call.ended) return;
  call.ended = true;
  release(call);
  if (current === call) current = null;
  setStatus(state, text);
  ui.end.disabled = true;
  ui.start.disabled = false;
}

function onConnectionState(call) {
  if (call.ended) return;
  const state = call.pc.connectionState;
  ui.connection.textContent = CONNECTION_WORDS[state] || state;
  switch (state) {
    case 'connected':
      setStatus('connected', 'Connected. Speak now.');
      void showLatency(call);
      break;
    case 'disconnected':
      setStatus('connecting', 'Connection interrupted. Reconnecting...');
      void poll(call);
      break;
    case 'failed':
      // ICE gave up (network changed, relay lost): one fresh call, then stop trying.
      if (!call.isRetry) {
        void hangUp(call, 'connecting', 'The connection was lost. Reconnecting once...').then(() => startCall(true));
      } else {
        void hangUp(call, 'error', 'The connection failed. A firewall may be blocking it; check your network and try again.');
      }
      break;
    case 'closed':
      finish(call, 'ended', 'Ended. The gateway closed the call.');
      break;
  }
}

async function startCall(isRetry = false) {
  if (current) return;
  const call = {
    pc: null, stream: null, sessionId: null, ended: false, audioContext: null, frame: 0, poller: 0, isRetry,
    pendingCandidates: [], candidatesDone: false, doneSent: false, sendingCandidates: false,
  };
  current = call;
  ui.start.disabled = true;
  ui.end.disabled = false;
  ui.provider.textContent = 'Not connected';
  ui.connection.textContent = CONNECTION_WORDS.new;
  ui.latency.textContent = '-';
  if (!isRetry) setStatus('connecting', 'Connecting... Allow the microphone if your browser asks.');
  try {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.RTCPeerConnection) {
      throw new CallError('This browser cannot place calls from this page. Use a current browser, over https or on localhost.');
    }
    try {
      call.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        video: false,
      });
    } catch (err) {
      throw new CallError(microphoneMessage(err));
    }
    if (call.ended) return release(call);
    startMeter(call);
    if (!isRetry) setStatus('connecting', 'Connecting...');
    const grant = await sessionGrant();
    if (call.ended) return release(call);

    const pc = new RTCPeerConnection({ iceServers: grant.iceServers });
    call.pc = pc;
    pc.addTransceiver(call.stream.getAudioTracks()[0], { direction: 'sendrecv', streams: [call.stream] });
    pc.addEventListener('track', (event) => {
      ui.remote.srcObject = event.streams[0] || new MediaStream([event.track]);
      ui.remote.play().catch(() => {});
    });
    pc.addEventListener('connectionstatechange', () => onConnectionState(call));
    pc.addEventListener('icecandidate', (event) => trickle(call, event.candidate));
    await pc.setLocalDescription(await pc.createOffer());
    if (call.ended) return;

    // Trickle: the offer goes now, the candidates follow as the browser finds them.
    const res = await post('/webrtc/offer', { sdp: pc.localDescription.sdp, type: 'offer', token: grant.token, trickle: true });
    if (!res.ok) throw new CallError(await gatewayMessage(res));
    const answer = await res.json();
    call.sessionId = answer.sessionId;
    if (call.ended) return endOnGateway(call);
    ui.provider.textContent = answer.provider;
    call.poller = setInterval(() => void poll(call), POLL_MS);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    void flushCandidates(call);
  } catch (err) {
    const text = err instanceof CallError ? err.message : `The call could not be started: ${err && err.message ? err.message : err}.`;
    await hangUp(call, 'error', text);
  }
}

async function endOnGateway(call) {
  if (!call.sessionId) return;
  const id = encodeURIComponent(call.sessionId);
  call.sessionId = null;
  try {
    await fetch(`/webrtc/sessions/${id}`, { method: 'DELETE', keepalive: true });
  } catch {
    // The gateway also ends calls whose peer goes away; nothing more to do here.
  }
}

async function hangUp(call, state, text) {
  if (call.ended) return;
  finish(call, state, text);
  await endOnGateway(call);
}

ui.start.addEventListener('click', () => {
  void startCall(false);
});
ui.end.addEventListener('click', () => {
  if (current) void hangUp(current, 'ended', 'Ended. Press Start call to call again.');
});
window.addEventListener('pagehide', () => {
  if (current) void hangUp(current, 'ended', 'Ended.');
});
