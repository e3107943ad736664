import { RunbookError } from '../errors';

/** Waits `ms`, or rejects when `signal` aborts (the polls of remote waits). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RunbookError('internal', 'the wait was cancelled'));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new RunbookError('internal', 'the wait was cancelled'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
