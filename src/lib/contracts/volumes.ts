import { z } from 'zod';

/**
 * Wire formats of CPD storage volumes ("zen-volumes", predecessor-runbook.md §2.6), shared by the
 * sandbox and the volumes client.
 *
 * - List:     GET  /zen-volumes/{volume}/v1/volumes/directories/{encoded path}?include_details=true&recursive=true
 * - Upload:   PUT  /zen-volumes/{volume}/v1/volumes/files/{encoded path}   (multipart part `upFile`)
 * - Download: GET  /zen-volumes/{volume}/v1/volumes/files/{encoded path}[?compress=zip]
 * - Delete:   DELETE /zen-volumes/{volume}/v1/volumes/files/{encoded path}
 * Paths are encoded whole (`/` → `%2F`); `/` (or empty) is the volume root.
 */

export const VolumeEntryDetails = z.looseObject({
  /** Relative to the listed folder; with `recursive=true` includes sub-folders (`out/x.png`). */
  path: z.string(),
  type: z.enum(['file', 'directory']),
  content_length: z.number().int().nonnegative(),
  /** RFC 1123 in GMT: `Tue, 15 Feb 2022 22:34:51 GMT`. */
  last_modified: z.string(),
  /** Files only, e.g. `.png` (empty string when the name has no extension). */
  file_extension: z.string().optional(),
});
export type VolumeEntryDetails = z.infer<typeof VolumeEntryDetails>;

export const DirectoryListingResponse = z.looseObject({
  _messageCode_: z.string().optional(),
  message: z.string().optional(),
  responseObject: z.looseObject({
    /** Entries with `include_details=true`, else bare relative paths. */
    directoryContents: z.union([z.array(VolumeEntryDetails), z.array(z.string())]),
  }),
});
export type DirectoryListingResponse = z.infer<typeof DirectoryListingResponse>;

export const VolumeWriteResponse = z.looseObject({
  _messageCode_: z.string(),
  message: z.string(),
});
export type VolumeWriteResponse = z.infer<typeof VolumeWriteResponse>;

/** The multipart part name of uploads. */
export const VOLUME_UPLOAD_FIELD = 'upFile';

/** Parses an RFC 1123 GMT `last_modified` into epoch ms (NaN when malformed). */
export function parseLastModified(value: string): number {
  return /GMT$/.test(value) ? Date.parse(value) : NaN;
}
