/**
 * Forwarding an API request for a call another node holds (REDIS_URL, the call registry): the request
 * goes to the owner's internal route (./routes/internal.ts) with the cluster secret, and the owner's
 * answer (status and body) is relayed as is. An owner that cannot be reached is a 502 naming the node,
 * never a 404: the call exists, its node is the problem.
 */
import type { FastifyReply } from 'fastify';
import { GatewayError } from '../errors.js';
import type { RouteContext } from './route-context.js';

export const CLUSTER_SECRET_HEADER = 'x-cluster-secret';
export type ForwardedAction = 'hangup' | 'dtmf' | 'provider';
const FORWARD_TIMEOUT_MS = 5000;

/**
 * Sends the request to the call's owner when another node holds it, and answers with the owner's
 * reply; resolves undefined when the call is this node's or unknown (the local path answers then).
 */
export async function forwardToOwner(
  ctx: RouteContext,
  reply: FastifyReply,
  action: ForwardedAction,
  callId: string,
  body: unknown,
): Promise<FastifyReply | undefined> {
  if (!ctx.registry || ctx.calls.get(callId)) return undefined;
  const owner = await ctx.registry.remoteOwner(callId);
  if (!owner) return undefined;
  const target = `${owner.nodeUrl}/internal/v1/calls/${encodeURIComponent(callId)}/${action}`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [CLUSTER_SECRET_HEADER]: ctx.config.cluster.secret ?? '', 'x-correlation-id': String(reply.request.id) },
      body: JSON.stringify(body ?? {}),
      signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
    });
    text = await res.text();
  } catch (err) {
    ctx.metrics.apiForwardedTotal.inc({ action, outcome: 'unreachable' });
    throw new GatewayError('GW_ERR_CLUSTER_NODE_UNREACHABLE', `node '${owner.nodeId}' (${owner.nodeUrl}) holds call '${callId}': ${(err as Error).message}`, { cause: err });
  }
  ctx.metrics.apiForwardedTotal.inc({ action, outcome: res.ok ? 'ok' : 'error' });
  reply.log.info({ event: 'api_forwarded', action, callId, node: owner.nodeId, status: res.status }, 'request forwarded to the node holding the call');
  return reply.code(res.status).header('content-type', res.headers.get('content-type') ?? 'application/json').header('x-voice-gateway-node', owner.nodeId).send(text);
}
