/**
 * The base of every carrier media URL: the public http(s) URL with its ws(s) twin scheme. The HTTP
 * routes that serve the media sockets and the call control that dials out both build their URLs
 * from here (through ./twilio/media-stream.ts and ./telnyx/media-stream.ts), so they cannot drift.
 */
export function wsBase(publicUrl: string): string {
  return publicUrl.replace(/^http/, 'ws');
}
