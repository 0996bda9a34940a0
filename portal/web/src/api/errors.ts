import type { ErrorBody } from './models';

/** An error answer of the API, in its one shape, or a network failure. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: Record<string, string>;
  /** From the Retry-After header (rate limits, a restarting portal). */
  retryAfterMs?: number;

  constructor(status: number, code: string, message: string, fields: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
  }

  /** Builds the error from a response whose body may or may not be ours. */
  static async from(res: Response): Promise<ApiError> {
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    const err = isErrorBody(body)
      ? new ApiError(res.status, body.error.code, body.error.message, body.error.fields ?? {})
      : new ApiError(res.status, 'http_' + res.status, `The portal answered ${res.status} ${res.statusText}`.trim());
    const retry = Number(res.headers.get('Retry-After'));
    if (retry > 0) err.retryAfterMs = retry * 1000;
    return err;
  }

  static network(cause: unknown): ApiError {
    const err = new ApiError(0, 'network', 'The portal cannot be reached. Check your connection and try again.');
    err.cause = cause;
    return err;
  }
}

function isErrorBody(body: unknown): body is ErrorBody {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const e = (body as { error: unknown }).error;
  return typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string';
}

/** The message of any error, for people. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The field errors of an API error, empty for anything else. */
export function fieldErrors(err: unknown): Record<string, string> {
  return err instanceof ApiError ? err.fields : {};
}
