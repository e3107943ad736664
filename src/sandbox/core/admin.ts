import { FaultSettings } from '../faults';
import { SANDBOX_SERVICE_NAME, type SandboxInfo } from '../health';
import { reply } from '../http/router';
import { defineModule, type StatusSection } from '../module';

/**
 * The sandbox's own API under `/sandbox/v1/` (never subject to fault injection):
 * health (no auth), status, routes and runtime fault settings (bearer token).
 */
export function adminModule(deps: { info: () => SandboxInfo; status: () => Promise<{ module: string; section: StatusSection }[]> }) {
  return defineModule({
    name: 'sandbox',
    setup(host) {
      host.get('/sandbox/v1/health', { auth: 'none' }, () => reply.json(200, { status: 'ok', service: SANDBOX_SERVICE_NAME, ...deps.info() }));
      host.get('/sandbox/v1/status', async () => {
        const sections = await deps.status();
        return reply.json(200, { sandbox: deps.info(), sections: sections.map((s) => ({ module: s.module, ...s.section })) });
      });
      host.get('/sandbox/v1/faults', () => reply.json(200, host.faults.settings()));
      host.put('/sandbox/v1/faults', { body: FaultSettings }, (ctx) => {
        host.faults.configure(ctx.body.faults, ctx.body.seed);
        return reply.json(200, host.faults.settings());
      });
      host.delete('/sandbox/v1/faults', () => {
        host.faults.configure([]);
        return reply.json(200, host.faults.settings());
      });
    },
  });
}
