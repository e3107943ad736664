/**
 * What Linux says about a process (a benchmark's own, the sandbox server, a reference server): resident memory
 * from /proc/<pid>/status and CPU time from /proc/<pid>/stat. Bytes are reported as MB (10^6 bytes).
 */
import { readFileSync, writeFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on every Linux this runs on). */
const TICKS_PER_SECOND = 100;

/** A `Vm…:  N kB` field of /proc/<pid>/status, in bytes; undefined when the process is gone. */
export function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resets the process's peak RSS (VmHWM) to its current RSS (`echo 5 > /proc/<pid>/clear_refs`,
 * Linux ≥ 4.0, needs the same user or root). False when the kernel refused: VmHWM then still
 * counts from the process's start.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime (fields 14, 15)
  } catch {
    return undefined;
  }
}

/** Samples VmRSS every `everyMs` until stopped; `stop()` gives the largest sample. */
export function sampleRss(pid: number, everyMs = 20): { stop(): number } {
  let peak = statusBytes(pid, 'VmRSS') ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, statusBytes(pid, 'VmRSS') ?? 0);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, statusBytes(pid, 'VmRSS') ?? 0);
    },
  };
}

/** Bytes as MB (10^6), the unit of the targets. */
export const mb = (bytes: number): number => bytes / 1e6;
