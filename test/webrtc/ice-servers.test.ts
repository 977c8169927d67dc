/** ICE_SERVERS and TURN REST credentials (the scheme coturn's use-auth-secret checks). */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { IceServerIssuer, turnRestCredential } from '../../src/transports/webrtc/ice-servers.js';
import { parseCandidates } from '../../src/http/routes/webrtc.js';

describe('TURN REST credentials', () => {
  it('username is expiry[:user], credential is base64 HMAC-SHA1 of it under the secret', () => {
    const c = turnRestCredential('north', 1_700_000_600, 'ab12');
    expect(c.username).toBe('1700000600:ab12');
    expect(c.credential).toBe(createHmac('sha1', 'north').update('1700000600:ab12').digest('base64'));
    expect(turnRestCredential('north', 5).username).toBe('5');
    expect(c.expiresAt.toISOString()).toBe(new Date(1_700_000_600_000).toISOString());
  });

  it('mints a fresh TURN credential per session, and gives STUN URLs without one', () => {
    const issuer = new IceServerIssuer({
      urls: ['stun:stun.example.com:3478', 'turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349'],
      turnSecret: 's3cret',
      credentialTtlS: 600,
      now: () => 1_000_000_000_000,
    });
    const a = issuer.forSession();
    const b = issuer.forSession();
    expect(a[0]).toEqual({ urls: ['stun:stun.example.com:3478'] });
    expect(a[1].urls).toEqual(['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349']);
    expect(a[1].username).toMatch(/^1000000600:[0-9a-f]{12}$/);
    expect(a[1].credential).toBe(createHmac('sha1', 's3cret').update(a[1].username!).digest('base64'));
    expect(b[1].username).not.toBe(a[1].username);
    expect(new IceServerIssuer({ urls: [], credentialTtlS: 600 }).forSession()).toEqual([]);
  });
});

describe('ICE configuration', () => {
  it('reads ICE_SERVERS, TURN_SECRET and TURN_CREDENTIAL_TTL_S', () => {
    const c = loadConfig({ ICE_SERVERS: 'stun:a.example:3478, turn:b.example:3478?transport=tcp', TURN_SECRET: 'x', TURN_CREDENTIAL_TTL_S: '900' });
    expect(c.webrtc).toEqual({ iceServers: ['stun:a.example:3478', 'turn:b.example:3478?transport=tcp'], turnSecret: 'x', turnCredentialTtlS: 900 });
    expect(loadConfig({}).webrtc).toEqual({ iceServers: [], turnSecret: undefined, turnCredentialTtlS: 3600 });
  });

  it('refuses URLs that are not STUN/TURN, and TURN without a secret', () => {
    expect(() => loadConfig({ ICE_SERVERS: 'http://x.example' })).toThrow(/ICE_SERVERS/);
    expect(() => loadConfig({ ICE_SERVERS: 'turn:user@x.example' })).toThrow(/ICE_SERVERS/);
    expect(() => loadConfig({ ICE_SERVERS: 'turn:x.example:3478' })).toThrow(/TURN_SECRET must be set/);
    expect(() => loadConfig({ TURN_CREDENTIAL_TTL_S: '5' })).toThrow(/TURN_CREDENTIAL_TTL_S/);
  });
});

describe('trickled candidate bodies', () => {
  it('takes RTCIceCandidate JSON and an end marker', () => {
    const r = parseCandidates({ candidates: [{ candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 }], done: true });
    expect(r.done).toBe(true);
    expect(r.candidates[0].sdpMid).toBe('0');
    expect(parseCandidates({ done: true })).toEqual({ candidates: [], done: true });
  });

  it("takes an empty candidate string as the end of candidates (Firefox's marker before the final null), not as a bad batch", () => {
    const host = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 };
    const r = parseCandidates({ candidates: [host, { candidate: '', sdpMid: '0', sdpMLineIndex: 0 }], done: false });
    expect(r).toEqual({ candidates: [{ candidate: host.candidate, sdpMid: '0', sdpMLineIndex: 0 }], done: true });
  });

  it('rejects what a browser never sends', () => {
    for (const body of [
      null, [], { candidates: 'x' }, { candidates: [{ candidate: 'a=candidate:1' }] }, { candidates: [{ candidate: `candidate:${'x'.repeat(600)}` }] },
      { candidates: [{ candidate: 'candidate:1', sdpMLineIndex: -1 }] }, { candidates: Array(21).fill({ candidate: 'candidate:1' }) }, { done: 'yes' },
    ]) {
      expect(() => parseCandidates(body), JSON.stringify(body)?.slice(0, 60)).toThrow(expect.objectContaining({ code: 'GW_ERR_HTTP_BAD_REQUEST' }));
    }
  });
});
