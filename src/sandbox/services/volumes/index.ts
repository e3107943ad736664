import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, promises as fsp, realpathSync, type Stats } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';
import { z } from 'zod';
import { VOLUME_UPLOAD_FIELD, type DirectoryListingResponse, type VolumeEntryDetails } from '../../../lib/contracts/volumes';
import { zipFolder } from '../../../lib/archive/zip';
import { SANDBOX_DEFAULT_VOLUME } from '../../config';
import { badRequest, conflict, notFound } from '../../errors';
import { receiveUpload } from '../../http/upload';
import { reply } from '../../http/router';
import { defineModule } from '../../module';
import { assertStaysInside, joinInside, lstatOrUndefined, volumeRelativePath } from './paths';

const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$/;

export const VolumeSpec = z.strictObject({
  name: z.string().regex(VOLUME_NAME, 'a volume name is letters, digits, space, _ . - (no slashes), at most 100 characters'),
  /** Backing folder: absolute, or relative to the state dir; default `<state>/volumes/<name>`. */
  path: z.string().min(1).optional(),
});
export type VolumeSpec = z.infer<typeof VolumeSpec>;

export const VolumesConfig = z.object({
  volumes: z.array(VolumeSpec).default(() => [{ name: SANDBOX_DEFAULT_VOLUME }]),
});

const VolumeDoc = z.object({ id: z.string(), name: z.string(), path: z.string(), created_at: z.string() });
type VolumeDoc = z.infer<typeof VolumeDoc>;

const TEMP_PREFIX = '.sandbox-upload-';
const isTemp = (name: string): boolean => name.startsWith(TEMP_PREFIX) && name.endsWith('.tmp');

const volumeId = (name: string): string => `v-${createHash('sha256').update(name).digest('hex').slice(0, 24)}`;

/** RFC 1123 in GMT, as the zen-volumes API answers (`Tue, 15 Feb 2022 22:34:51 GMT`). */
const rfc1123 = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toUTCString();

const truthy = (v: string | null): boolean => v !== null && /^(true|1|yes)$/i.test(v);

async function walk(dir: string, prefix: string, recursive: boolean, out: { rel: string; stat: Stats }[], limit = Infinity): Promise<void> {
  const names = (await fsp.readdir(dir)).sort();
  for (const name of names) {
    if (out.length >= limit) return;
    if (isTemp(name)) continue;
    const full = join(dir, name);
    const stat = lstatOrUndefined(full);
    if (!stat || stat.isSymbolicLink()) continue; // links could lead outside the volume
    if (!stat.isFile() && !stat.isDirectory()) continue;
    const rel = prefix ? `${prefix}/${name}` : name;
    out.push({ rel, stat });
    if (recursive && stat.isDirectory()) await walk(full, rel, true, out, limit);
  }
}

/** Removes partial uploads a kill left behind (hidden temp files) anywhere in the volume. */
async function sweepTemps(dir: string): Promise<number> {
  let removed = 0;
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const full = join(dir, name);
    const stat = lstatOrUndefined(full);
    if (isTemp(name) && stat?.isFile()) {
      await fsp.rm(full, { force: true });
      removed++;
    } else if (stat?.isDirectory()) {
      removed += await sweepTemps(full);
    }
  }
  return removed;
}

/**
 * CPD storage volumes ("zen-volumes", predecessor-runbook.md §2.6): named volumes backed by folders,
 * with recursive listing (modification times in RFC 1123), multipart upload (`upFile`), download
 * (a folder as zip with `compress=zip`) and delete. Volumes come from `config.services.volumes` and
 * `PUT /sandbox/v1/volumes/{name}`.
 */
export const volumesModule = defineModule({
  name: 'volumes',
  configSchema: VolumesConfig,
  async setup(host) {
    const volumes = await host.store.collection('volumes', VolumeDoc);

    const addVolume = async (spec: VolumeSpec): Promise<{ volume: VolumeDoc; created: boolean }> => {
      const path = spec.path ? (isAbsolute(spec.path) ? resolve(spec.path) : resolve(host.stateDir, spec.path)) : join(host.stateDir, 'volumes', spec.name);
      mkdirSync(path, { recursive: true });
      const id = volumeId(spec.name);
      const existing = volumes.get(id);
      if (existing && existing.path === path) return { volume: existing, created: false };
      const volume: VolumeDoc = { id, name: spec.name, path, created_at: existing?.created_at ?? new Date().toISOString() };
      await volumes.put(id, volume);
      return { volume, created: !existing };
    };

    for (const spec of host.config.volumes) await addVolume(spec);
    for (const volume of volumes.values()) {
      mkdirSync(volume.path, { recursive: true });
      const swept = await sweepTemps(volume.path);
      if (swept > 0) host.log(`removed ${swept} partial upload(s) from volume '${volume.name}'`);
    }

    const volumeNamed = (name: string): { volume: VolumeDoc; realRoot: string } => {
      const volume = VOLUME_NAME.test(name) ? volumes.get(volumeId(name)) : undefined;
      if (!volume) throw notFound('volume', name);
      mkdirSync(volume.path, { recursive: true });
      return { volume, realRoot: realpathSync(volume.path) };
    };

    const locate = (volName: string, rawPath: string) => {
      const { volume, realRoot } = volumeNamed(volName);
      const rel = volumeRelativePath(rawPath ?? '');
      const abs = joinInside(realRoot, rel);
      assertStaysInside(realRoot, abs, `path '${rel}'`);
      return { volume, realRoot, rel, abs, shown: rel === '' ? '/' : rel };
    };

    // ---- admin ----------------------------------------------------------------------------------

    host.get('/sandbox/v1/volumes', () => reply.json(200, { volumes: volumes.values().map((v) => ({ name: v.name, path: v.path, created_at: v.created_at })) }));
    host.put('/sandbox/v1/volumes/:name', { body: z.object({ path: z.string().min(1).optional() }).optional() }, (ctx) =>
      host.store.lock(async () => {
        const spec = VolumeSpec.safeParse({ name: ctx.params.name, path: ctx.body?.path });
        if (!spec.success) throw badRequest(`name: ${spec.error.issues[0]!.message}`, 'invalid_volume');
        const { volume, created } = await addVolume(spec.data);
        return reply.json(created ? 201 : 200, { name: volume.name, path: volume.path, created_at: volume.created_at });
      }),
    );

    // ---- zen-volumes ----------------------------------------------------------------------------

    const listing = async (ctx: { params: Record<string, string>; searchParams: URLSearchParams }) => {
      const { abs, shown } = locate(ctx.params.vol!, ctx.params.path ?? '');
      const stat = lstatOrUndefined(abs);
      if (!stat) throw notFound('directory', shown);
      if (!stat.isDirectory()) throw notFound('directory', `${shown} (it is a file)`);
      const details = truthy(ctx.searchParams.get('include_details'));
      const recursive = truthy(ctx.searchParams.get('recursive'));
      const entries: { rel: string; stat: Stats }[] = [];
      await walk(abs, '', recursive, entries);
      const body: DirectoryListingResponse = {
        _messageCode_: 'success',
        message: `Listed ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} of ${shown}`,
        responseObject: {
          directoryContents: details
            ? entries.map(({ rel, stat: s }): VolumeEntryDetails => {
                const entry: VolumeEntryDetails = {
                  path: rel,
                  type: s.isDirectory() ? 'directory' : 'file',
                  content_length: s.isDirectory() ? 0 : s.size,
                  last_modified: rfc1123(s.mtimeMs),
                };
                if (!s.isDirectory()) entry.file_extension = extname(rel);
                return entry;
              })
            : entries.map((e) => e.rel),
        },
      };
      return reply.json(200, body);
    };
    host.get('/zen-volumes/:vol/v1/volumes/directories/*path', listing);

    host.put('/zen-volumes/:vol/v1/volumes/files/*path', { body: 'stream' }, async (ctx) => {
      const { realRoot, rel, abs, shown } = locate(ctx.params.vol!, ctx.params.path ?? '');
      if (rel === '') throw badRequest('path: name the file to write (the volume root is a folder)', 'invalid_path');
      if (lstatOrUndefined(abs)?.isDirectory()) throw conflict(`${shown} is a directory`, 'is_a_directory');
      const parent = dirname(abs);
      try {
        await fsp.mkdir(parent, { recursive: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' || code === 'ENOTDIR') throw conflict(`a parent of ${shown} is a file`, 'parent_is_a_file');
        throw err;
      }
      assertStaysInside(realRoot, parent, `path '${rel}'`);
      const tmp = join(parent, `${TEMP_PREFIX}${randomUUID()}.tmp`);
      let size = 0;
      try {
        size = await receiveUpload(ctx.req, VOLUME_UPLOAD_FIELD, async (stream) => {
          const out = createWriteStream(tmp, { flags: 'wx' });
          await pipeline(stream, out);
          const handle = await fsp.open(tmp, 'r+');
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
          return out.bytesWritten;
        });
        if (lstatOrUndefined(abs)?.isDirectory()) throw conflict(`${shown} is a directory`, 'is_a_directory');
        await fsp.rename(tmp, abs);
      } catch (err) {
        await fsp.rm(tmp, { force: true });
        throw err;
      }
      return reply.json(200, { _messageCode_: 'success', message: `Successfully uploaded file ${shown} (${size} bytes)` });
    });

    host.get('/zen-volumes/:vol/v1/volumes/files/*path', async (ctx) => {
      const { abs, shown } = locate(ctx.params.vol!, ctx.params.path ?? '');
      const stat = lstatOrUndefined(abs);
      if (!stat || !(stat.isFile() || stat.isDirectory())) throw notFound('file', shown);
      const zip = ctx.searchParams.get('compress');
      if (zip !== null && zip !== 'zip') throw badRequest(`query.compress: only 'zip' is supported, got '${zip}'`, 'invalid_parameter');
      const zipName = `${shown === '/' ? 'volume' : basename(abs)}.zip`;
      if (stat.isDirectory()) {
        if (zip !== 'zip') throw badRequest(`${shown} is a directory: add compress=zip to download it as a zip`, 'is_a_directory');
        return reply.stream(200, zipFolder(abs), { 'content-type': 'application/zip', 'content-disposition': `attachment; filename="${zipName.replace(/"/g, '_')}"` });
      }
      if (zip === 'zip') {
        const one = new ZipFile();
        one.addFile(abs, basename(abs));
        one.end();
        return reply.stream(200, one.outputStream as unknown as Readable, { 'content-type': 'application/zip' });
      }
      return reply.stream(200, createReadStream(abs), {
        'content-type': 'application/octet-stream',
        'content-length': String(stat.size),
        'last-modified': rfc1123(stat.mtimeMs),
      });
    });

    host.delete('/zen-volumes/:vol/v1/volumes/files/*path', async (ctx) => {
      const { rel, abs, shown } = locate(ctx.params.vol!, ctx.params.path ?? '');
      if (rel === '') throw badRequest('path: the volume root cannot be deleted', 'invalid_path');
      const stat = lstatOrUndefined(abs);
      if (!stat) throw notFound('file', shown);
      if (stat.isDirectory() && !truthy(ctx.searchParams.get('recursive'))) {
        throw conflict(`${shown} is a directory: add recursive=true to delete it with its contents`, 'is_a_directory');
      }
      await fsp.rm(abs, { recursive: true, force: true });
      return reply.json(200, { _messageCode_: 'success', message: `Deleted ${shown}` });
    });

    return {
      status: async () => {
        const lines: string[] = [];
        const data: unknown[] = [];
        for (const v of volumes.values().sort((a, b) => a.name.localeCompare(b.name))) {
          const entries: { rel: string; stat: Stats }[] = [];
          await walk(v.path, '', true, entries, 10_000).catch(() => undefined);
          const files = entries.filter((e) => e.stat.isFile());
          const bytes = files.reduce((n, e) => n + e.stat.size, 0);
          const capped = entries.length >= 10_000 ? ' (first 10000 entries)' : '';
          lines.push(`${v.name} → ${v.path}: ${files.length} file(s), ${bytes} bytes${capped}`);
          data.push({ name: v.name, path: v.path, files: files.length, bytes });
        }
        return { title: 'Storage volumes', lines, data };
      },
    };
  },
});
