import { z } from 'zod';
import { ValidationError } from '../errors';
import { REDACTED, Redactor } from '../redact';

/**
 * Wire formats of WMLA deep-learning training, `/platform/rest/deeplearning/v1`
 * (ibm-api-contracts.md §4), shared by the sandbox (request validation) and the clients (response
 * validation), plus the `args` grammar helpers both sides must agree on. Responses are loose objects:
 * real clusters add fields the project does not read.
 */

// ---- States (§4.4) -------------------------------------------------------------------------------

/** States in which an exec still runs or waits to run (dlicmd `APP_ACTIVE_STATES`). */
export const EXEC_ACTIVE_STATES = [
  'NEW',
  'SUBMITTED',
  'PENDING_JOB_SCHEDULER',
  'PENDING_CRD_SCHEDULER',
  'LAUNCHING',
  'RUNNING',
  'RECOVERING',
  'UNKNOWN',
] as const;
/** Final states (dlicmd `APP_NONACTIVE_STATES`): polling stops here. */
export const EXEC_TERMINAL_STATES = ['FINISHED', 'KILLED', 'ERROR'] as const;

export const ExecState = z.enum([...EXEC_ACTIVE_STATES, ...EXEC_TERMINAL_STATES]);
export type ExecState = z.infer<typeof ExecState>;

export function isTerminalExecState(state: string): boolean {
  return (EXEC_TERMINAL_STATES as readonly string[]).includes(state);
}

// ---- Objects (§4.1–4.2) --------------------------------------------------------------------------

/**
 * An exec (`Batch`). `id == appId`, shaped `<namespace>-<sequence>` (e.g. `cpd-wmla-14`);
 * `createTime` is `YYYY-MM-DDTHH:MM:SSZ` (real clusters may add fractional seconds). `state` is a
 * plain string so that a state this project does not know does not break a client.
 */
export const Batch = z.looseObject({
  id: z.string().min(1),
  appId: z.string().min(1),
  submissionId: z.string().optional(),
  state: z.string().min(1),
  args: z.string().optional(),
  userName: z.string().optional(),
  executionUserName: z.string().optional(),
  creator: z.string().optional(),
  framework: z.string().optional(),
  numWorker: z.number().int().optional(),
  createTime: z.string().optional(),
  elastic: z.boolean().optional(),
  appName: z.string().optional(),
  sigName: z.string().optional(),
  sigId: z.string().optional(),
  masterURL: z.string().optional(),
});
export type Batch = z.infer<typeof Batch>;

export const BatchList = z.array(Batch);
export type BatchList = z.infer<typeof BatchList>;

/** `POST /execs` answers the new exec (dlicmd reads `id` and `appId`). */
export const ExecSubmitResponse = Batch;
export type ExecSubmitResponse = Batch;

/** One entry of `GET /execs/frameworks`: the names `--exec-start` accepts. */
export const Framework = z.looseObject({
  name: z.string().min(1),
  frameworkVersion: z.string().optional(),
  desc: z.array(z.string()).optional(),
  distributeStrategy: z.string().optional(),
  description: z.string().optional(),
  numPs: z.number().int().optional(),
});
export type Framework = z.infer<typeof Framework>;
export const FrameworkList = z.array(Framework);
export type FrameworkList = z.infer<typeof FrameworkList>;

/** `GET /conf`: dlpd.conf as a map of strings (dlicmd reads `MSD_ENABLED`). */
export const DlpdConf = z.record(z.string(), z.string());
export type DlpdConf = z.infer<typeof DlpdConf>;

// ---- Query parameters ----------------------------------------------------------------------------

/** `POST /execs?args=…`: the CLI-style flags as one string (required). */
export const ExecSubmitQuery = z.looseObject({
  args: z.string().min(1, 'required: the CLI-style flags of the exec, e.g. "--exec-start PyTorch --model-main train.py"'),
});
export type ExecSubmitQuery = z.infer<typeof ExecSubmitQuery>;

/** `GET /execs`: `state` (one state or a comma list), `limit`, `sort_by` (`<field>[:asc|:desc]`). */
export const ExecListQuery = z.looseObject({
  state: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).optional(),
  sort_by: z
    .string()
    .regex(/^[A-Za-z]+(:(asc|desc))?$/, 'expected <field>[:asc|:desc], e.g. id:desc')
    .optional(),
});
export type ExecListQuery = z.infer<typeof ExecListQuery>;

export const ExecLogType = z.enum(['outlog', 'errlog', 'outerrlog']);
export type ExecLogType = z.infer<typeof ExecLogType>;

/** `GET /execs/{id}/log?logType=…` (default `outlog`); `args` is accepted and ignored. */
export const ExecLogQuery = z.looseObject({
  logType: ExecLogType.default('outlog'),
  args: z.string().optional(),
});
export type ExecLogQuery = z.infer<typeof ExecLogQuery>;

/** The file name of `GET /execs/{id}/result` (`Content-Disposition: attachment;filename=…`). */
export const TRAIN_RESULT_FILENAME = 'train_result.zip';

// ---- The `args` grammar (§4.3) -------------------------------------------------------------------

/**
 * Splits an `args` string into tokens with POSIX shell-word rules (Python `shlex.split`): blanks
 * separate words; single quotes keep everything literally; double quotes keep everything except
 * `\"`, `\\`, `\$` and `` \` ``; a backslash outside quotes escapes the next character. No variable
 * expansion, globbing or operators (a shell-quote library would expand `$VAR` and split on `;`).
 * Throws a ValidationError naming `args` on an unterminated quote or a trailing backslash.
 */
export function tokenizeExecArgs(args: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let inWord = false;
  let i = 0;
  const fail = (why: string): never => {
    throw new ValidationError(`args: ${why}`, [{ path: 'args', message: why }]);
  };
  while (i < args.length) {
    const c = args[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) tokens.push(current);
      current = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = args.indexOf("'", i + 1);
      if (end < 0) fail(`unterminated single quote at position ${i}`);
      current += args.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      inWord = true;
      i++;
      for (;;) {
        if (i >= args.length) fail('unterminated double quote');
        const d = args[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\' && i + 1 < args.length && '"\\$`\n'.includes(args[i + 1]!)) {
          if (args[i + 1] !== '\n') current += args[i + 1];
          i += 2;
          continue;
        }
        current += d;
        i++;
      }
    } else if (c === '\\') {
      if (i + 1 >= args.length) fail('a trailing backslash escapes nothing');
      if (args[i + 1] !== '\n') {
        current += args[i + 1];
        inWord = true;
      }
      i += 2;
    } else {
      current += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) tokens.push(current);
  return tokens;
}

/** One token quoted so that {@link tokenizeExecArgs} gives it back unchanged (`shlex.quote`). */
export function quoteExecArg(token: string): string {
  if (token === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(token)) return token;
  return `'${token.replace(/'/g, `'"'"'`)}'`;
}

/** Tokens joined into an `args` string (quoted only where needed). */
export function formatExecArgs(tokens: readonly string[]): string {
  return tokens.map(quoteExecArg).join(' ');
}

/**
 * The tokens with every `--msd-env NAME=VALUE` value replaced by `***` (the predecessor passed
 * `USER_ACCESS_TOKEN` this way), and bearer tokens/JWTs anywhere else redacted too. For logs and
 * for the `args` the sandbox stores and echoes.
 */
export function redactExecArgs(tokens: readonly string[]): string[] {
  const redactor = new Redactor();
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '--msd-env' && i + 1 < tokens.length) {
      const pair = tokens[i + 1]!;
      const eq = pair.indexOf('=');
      out.push(token, eq < 0 ? pair : `${pair.slice(0, eq)}=${REDACTED}`);
      i++;
      continue;
    }
    const inline = /^--msd-env=([^=]*)=/.exec(token);
    if (inline) {
      out.push(`--msd-env=${inline[1]}=${REDACTED}`);
      continue;
    }
    out.push(redactor.redact(token));
  }
  return out;
}
