import { DataMartCollection, type DataMart } from '../contracts/openscale';
import { ConfigError } from '../errors';
import { serviceInstanceIdOf, type OpenScaleHttp } from './common';

/** Every data mart of the service instance (`GET /v2/data_marts`). */
export async function listDataMarts(os: OpenScaleHttp): Promise<DataMart[]> {
  return (await os.request({ path: '/v2/data_marts', schema: DataMartCollection })).data_marts;
}

/**
 * The data mart the runbook uses: the one whose id is the service instance id (on CPD both are
 * `00000000-0000-0000-0000-000000000000`), else the only one. Several without that match, or
 * none, is a ConfigError listing what there is.
 */
export async function defaultDataMartId(os: OpenScaleHttp): Promise<string> {
  const marts = await listDataMarts(os);
  const instance = serviceInstanceIdOf(os);
  const same = marts.find((m) => m.metadata.id === instance);
  if (same) return same.metadata.id;
  if (marts.length === 1) return marts[0]!.metadata.id;
  if (marts.length === 0) throw new ConfigError(`OpenScale at ${os.baseUrl} has no data mart: set up OpenScale (its data mart) first`);
  throw new ConfigError(
    `OpenScale at ${os.baseUrl} has ${marts.length} data marts (${marts.map((m) => m.metadata.id).join(', ')}) and none has the service instance id ${instance ?? '(unknown)'}: pass the data mart id explicitly`,
  );
}
