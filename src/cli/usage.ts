/** The error a subcommand throws for bad arguments: main.ts prints it and exits with status 2. */
import { GatewayError } from '../errors.js';

export function usageError(detail: string): GatewayError {
  return new GatewayError('GW_ERR_CLI_USAGE', detail);
}
