import { badRequest } from '../../errors';

/** A parsed CAMS search query: the subset of Lucene the runbook's clients send. */
export type AssetQuery = { kind: 'all' } | { kind: 'name'; name: string } | { kind: 'id'; id: string };

const SUPPORTED = "the sandbox supports '*:*', 'asset.name:<name>' (quoted when it has spaces or quotes), and 'asset.asset_id:<id>'";

function unquote(value: string, field: string): string {
  const v = value.trim();
  if (!v.startsWith('"')) return v.replace(/\\(.)/g, '$1'); // bare terms escape specials: deepliif\-base.zip
  let out = '';
  for (let i = 1; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\' && i + 1 < v.length) {
      out += v[++i];
    } else if (c === '"') {
      if (i !== v.length - 1) throw badRequest(`query: unexpected text after the quoted ${field} value`, 'invalid_query');
      return out;
    } else {
      out += c;
    }
  }
  throw badRequest(`query: unterminated quotes in the ${field} value`, 'invalid_query');
}

/** Parses `query`; 400 naming the field when it is outside the supported subset. */
export function parseAssetQuery(query: string): AssetQuery {
  const q = query.trim();
  if (q === '*:*' || q === '*') return { kind: 'all' };
  const m = /^asset\.(name|asset_id)\s*:\s*(.+)$/s.exec(q);
  if (!m) throw badRequest(`query: unsupported query ${JSON.stringify(query)}; ${SUPPORTED}`, 'invalid_query');
  const value = unquote(m[2]!, `asset.${m[1]}`);
  if (value === '') throw badRequest(`query: empty value for asset.${m[1]}`, 'invalid_query');
  return m[1] === 'name' ? { kind: 'name', name: value } : { kind: 'id', id: value };
}

/** `GET /v3/search?query=metadata.name:<n> AND entity.assets.space_id:<id>` terms. */
export interface GlobalQuery {
  name?: string;
  artifactId?: string;
  container?: { kind: 'space' | 'project' | 'catalog'; id: string };
}

export function parseGlobalQuery(query: string): GlobalQuery {
  const out: GlobalQuery = {};
  for (const term of query.split(/\s+AND\s+/)) {
    const m = /^([a-z_.]+):(.+)$/s.exec(term.trim());
    if (!m) throw badRequest(`query: unsupported term ${JSON.stringify(term)}; use metadata.name:<name>, artifact_id:<id>, entity.assets.space_id:<id> joined by AND`, 'invalid_query');
    const value = unquote(m[2]!, m[1]!);
    switch (m[1]) {
      case 'metadata.name':
        out.name = value;
        break;
      case 'artifact_id':
        out.artifactId = value;
        break;
      case 'entity.assets.space_id':
        out.container = { kind: 'space', id: value };
        break;
      case 'entity.assets.project_id':
        out.container = { kind: 'project', id: value };
        break;
      case 'entity.assets.catalog_id':
        out.container = { kind: 'catalog', id: value };
        break;
      default:
        throw badRequest(`query: unsupported field ${m[1]}`, 'invalid_query');
    }
  }
  return out;
}
