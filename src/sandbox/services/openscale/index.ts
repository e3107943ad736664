import { OPENSCALE_DEFAULT_INSTANCE_ID } from '../../../lib/contracts/openscale';
import { defineModule } from '../../module';
import { nowIso, openState, OpenScaleConfig, readyState } from './context';
import { registerMeasurementRoutes } from './measurements';
import { registerMonitorRoutes } from './monitors';
import { registerResourceRoutes } from './resources';
import { RunDriver, registerRunRoutes } from './runs';

/**
 * Watson OpenScale v2 under `/openscale/{instance}/v2` (ibm-api-contracts.md §5): data marts, service
 * providers, subscriptions, integrated systems, monitor definitions and instances, runs that call a
 * custom metrics provider over HTTP, and measurements with limits and issue counts. See the module's
 * section in src/sandbox/README.md.
 */
export const openscaleModule = defineModule({
  name: 'openscale',
  configSchema: OpenScaleConfig,
  async setup(host) {
    const state = await openState(host);
    // Each service instance has its data mart, whose id is the instance id (CPD: all zeros).
    for (const instance of state.instanceIds) {
      if (!state.dataMarts.has(instance)) {
        await state.dataMarts.put(instance, {
          key: instance,
          id: instance,
          instance,
          created_at: nowIso(),
          created_by: 'sandbox',
          entity: {
            name: instance === OPENSCALE_DEFAULT_INSTANCE_ID ? 'Default data mart' : `Data mart ${instance}`,
            description: 'Data mart of the sandbox OpenScale service instance',
            service_instance_crn: `crn:v1:sandbox:private:aiopenscale:local:a/sandbox:${instance}::`,
            internal_database: true,
          },
        });
      }
    }
    const driver = new RunDriver(state);
    registerResourceRoutes(state, driver);
    registerMonitorRoutes(state, driver);
    registerRunRoutes(state, driver);
    registerMeasurementRoutes(state, driver);
    await driver.recover();

    return {
      status: () => {
        const runStates = new Map<string, number>();
        for (const r of state.runs.values()) runStates.set(r.entity.status.state, (runStates.get(r.entity.status.state) ?? 0) + 1);
        const instances = state.instances.values();
        return {
          title: 'Watson OpenScale',
          lines: [
            `service instances: ${[...state.instanceIds].join(', ')}`,
            `service providers: ${state.providers.find((p) => !p.deleted_at).length}, subscriptions: ${state.subscriptions.size}, integrated systems: ${state.systems.size}`,
            `monitor definitions: ${state.definitions.values().map((d) => d.id).sort().join(', ') || '(none)'}`,
            ...instances.map((m) => `monitor instance ${m.id}: ${m.entity.monitor_definition_id} on ${m.entity.target.target_type} ${m.entity.target.target_id} (${readyState(m.ready_at)})`),
            `runs: ${[...runStates].map(([s, n]) => `${n} ${s}`).join(', ') || '(none)'}; measurements: ${state.measurements.size}`,
          ],
          data: {
            instances: [...state.instanceIds],
            serviceProviders: state.providers.size,
            subscriptions: state.subscriptions.size,
            integratedSystems: state.systems.size,
            monitorDefinitions: state.definitions.values().map((d) => d.id),
            monitorInstances: instances.map((m) => ({ id: m.id, definition: m.entity.monitor_definition_id, target: m.entity.target, state: readyState(m.ready_at) })),
            runs: Object.fromEntries(runStates),
            measurements: state.measurements.size,
          },
        };
      },
      close: () => driver.close(),
    };
  },
});
