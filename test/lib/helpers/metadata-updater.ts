/**
 * Child process of the "8 parallel updaters" test: applies `rounds` read-modify-write updates to a
 * shared deployment metadata file through updateWithRetry, then prints its statistics as JSON.
 * argv: <file> <writer id> <rounds>
 */
import { FileMetadataStore, deploymentMetadataCodec, updateWithRetry, addEntry, updateEntry, DeploymentEntry } from '../../../src/lib/metadata';
import { sampleEntry } from '../fixtures/metadata';

async function main(): Promise<void> {
  const [file, writer, roundsText] = process.argv.slice(2);
  const rounds = Number(roundsText);
  const store = new FileMetadataStore(file, deploymentMetadataCodec);
  let attempts = 0;
  let conflicts = 0;
  for (let i = 0; i < rounds; i++) {
    const r = await updateWithRetry(
      store,
      (doc) => {
        // A shared counter (lost updates would show as a smaller total) and one entry per writer.
        const replicas = doc.shared.wmla_deployment.resource_configs.n_replicas ?? 0;
        let next = updateEntry(doc, 'shared', { wmla_deployment: { resource_configs: { n_replicas: replicas + 1 } } }, { schema: DeploymentEntry });
        const mine = `writer-${writer}`;
        const entry = DeploymentEntry.parse({ ...sampleEntry(), model_name: `${mine} round ${i + 1}` });
        next = addEntry(next, mine, entry, { overwrite: true, schema: DeploymentEntry });
        return next;
      },
      { retries: 200, onConflict: () => conflicts++ },
    );
    attempts += r.attempts;
  }
  process.stdout.write(JSON.stringify({ writer, attempts, conflicts }) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exitCode = 1;
});
