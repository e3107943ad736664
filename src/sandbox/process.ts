import { startSandboxServer, type RunningSandbox, type SandboxServerOptions } from './server';

/**
 * Runs the sandbox as the main job of this process (the detached server and
 * `runbook sandbox start` in the foreground): SIGINT/SIGTERM close it cleanly.
 */
export async function runSandboxProcess(
  options: SandboxServerOptions,
  onStop?: (signal: string) => void,
): Promise<{ sandbox: RunningSandbox; stopped: Promise<string> }> {
  const sandbox = await startSandboxServer(options);
  const stopped = new Promise<string>((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      onStop?.(signal);
      void sandbox.close().then(() => resolve(signal));
    };
    const onInt = (): void => stop('SIGINT');
    const onTerm = (): void => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  return { sandbox, stopped };
}
