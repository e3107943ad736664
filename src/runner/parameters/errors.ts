import { ValidationError } from '../../lib/errors';

/** Notebook parameters that cannot be used: unknown name, wrong type, unreadable source. Exit code 6. */
export class ParameterError extends ValidationError {}
