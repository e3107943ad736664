/**
 * The MIME type a data asset is created with, chosen from its name's extension (CAMS stores it as
 * `entity.data_asset.mime_type` and serves downloads with it). Unknown extensions are binary.
 */

const BY_EXTENSION: Readonly<Record<string, string>> = {
  zip: 'application/zip',
  'tar.gz': 'application/gzip',
  tgz: 'application/gzip',
  gz: 'application/gzip',
  tar: 'application/x-tar',
  yml: 'application/x-yaml',
  yaml: 'application/x-yaml',
  json: 'application/json',
  csv: 'text/csv',
  txt: 'text/plain',
  md: 'text/markdown',
  py: 'text/x-python',
  ipynb: 'application/x-ipynb+json',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  pt: 'application/octet-stream',
  pth: 'application/octet-stream',
  onnx: 'application/octet-stream',
  h5: 'application/x-hdf5',
  pkl: 'application/octet-stream',
};

/** The MIME type for a file or asset name, e.g. `model.zip` → `application/zip`; default `application/octet-stream`. */
export function mimeTypeFor(name: string): string {
  const lower = name.toLowerCase();
  if (lower.endsWith('.tar.gz')) return BY_EXTENSION['tar.gz']!;
  const dot = lower.lastIndexOf('.');
  if (dot <= 0 || dot === lower.length - 1) return 'application/octet-stream';
  return BY_EXTENSION[lower.slice(dot + 1)] ?? 'application/octet-stream';
}
