import type { ProfileClients } from '../config/connect';
import { createHttpClient, type HttpClient } from '../http/client';
import type { ProviderContext } from './run';

/** Options of {@link providerContext} (everything of a ProviderContext except the clients). */
export type ProviderContextOptions = Omit<ProviderContext, 'cpd' | 'openscaleFor' | 'redactor'>;

/**
 * A provider context on a profile's clients: the provider reads volumes and calls OpenScale back
 * with its own credentials (not the token OpenScale called it with). A payload naming another
 * data mart than the profile's service instance gets a client for `/openscale/{that id}` sharing
 * the profile's token provider.
 */
export function providerContext(clients: ProfileClients, options: ProviderContextOptions): ProviderContext {
  const byMart = new Map<string, HttpClient>([[clients.profile.openscaleInstanceId, clients.openscale]]);
  return {
    ...options,
    cpd: clients.cpd,
    redactor: clients.profile.redactor,
    openscaleFor(dataMartId: string): HttpClient {
      let c = byMart.get(dataMartId);
      if (!c) {
        c = createHttpClient({
          baseUrl: `${clients.profile.openscaleUrl}/openscale/${encodeURIComponent(dataMartId)}`,
          auth: clients.tokens,
          tls: clients.profile.tls,
          redactor: clients.profile.redactor,
        });
        byMart.set(dataMartId, c);
      }
      return c;
    },
  };
}
