/**
 * Each carrier's route plugin (its webhooks and its media WebSocket), by name. Typed by CARRIER_NAMES
 * (src/carriers/carrier-name.ts): a carrier without its routes does not compile. app.ts registers them
 * in that order.
 */
import type { FastifyInstance } from 'fastify';
import { CARRIER_NAMES, type CarrierName } from '../../carriers/carrier-name.js';
import type { RouteContext } from '../route-context.js';
import { registerTelnyxRoutes } from './telnyx.js';
import { registerTwilioRoutes } from './twilio.js';

export type CarrierRoutes = (app: FastifyInstance, ctx: RouteContext) => void;

export const CARRIER_ROUTES: { readonly [N in CarrierName]: CarrierRoutes } = {
  twilio: registerTwilioRoutes,
  telnyx: registerTelnyxRoutes,
};

export function registerCarrierRoutes(app: FastifyInstance, ctx: RouteContext): void {
  for (const name of CARRIER_NAMES) CARRIER_ROUTES[name](app, ctx);
}
