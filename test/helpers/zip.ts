import { createHash } from 'node:crypto';
import yauzl from 'yauzl';

/**
 * Every entry of a zip (a file, or its bytes), read with yauzl one entry at a time: name → the text
 * of the file, or with `content: 'sha256'` the SHA-256 of its bytes (hashed as it streams, for big
 * files). Folder entries (`name/`) are left out unless `folders` is set; they then map to `<dir>`.
 */
export function readZip(source: string | Buffer, options: { content?: 'text' | 'sha256'; folders?: boolean } = {}): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const opened = (err: Error | null, zip?: yauzl.ZipFile) => {
      if (err || !zip) return reject(err);
      const out: Record<string, string> = {};
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/')) {
          if (options.folders) out[entry.fileName] = '<dir>';
          zip.readEntry();
          return;
        }
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e);
          const hash = options.content === 'sha256' ? createHash('sha256') : undefined;
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => (hash ? hash.update(c) : chunks.push(c)));
          stream.on('end', () => {
            out[entry.fileName] = hash ? hash.digest('hex') : Buffer.concat(chunks).toString('utf8');
            zip.readEntry();
          });
          stream.on('error', reject);
        });
      });
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    };
    if (typeof source === 'string') yauzl.open(source, { lazyEntries: true }, opened);
    else yauzl.fromBuffer(source, { lazyEntries: true }, opened);
  });
}
