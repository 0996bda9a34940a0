import { ApiError } from '../../api/errors';

/**
 * The sentence a quota refusal deserves, built from the error's fields
 * (limit, used, max): "3 of 3 running sessions — hibernate or terminate one
 * to start another". Unknown limits fall back to the portal's message.
 */
export function quotaMessage(err: ApiError): string {
  const { limit, used = '', max = '' } = err.fields;
  const count = leadingNumber(used);
  switch (limit) {
    case 'maxRunningSessions':
      return `${count ?? used} of ${max} running sessions — hibernate or terminate one to start another.`;
    case 'maxSessions':
      return `${count ?? used} of ${max} sessions — terminate one to create another.`;
    case 'memory':
      return `Not enough memory left in your quota: ${used}, limit ${max}. Terminate or hibernate a session to free some.`;
    case 'cpu':
      return `Not enough CPU left in your quota: ${used}, limit ${max}. Terminate or hibernate a session to free some.`;
    case 'maxSessionDuration':
      return `The session would run longer than your quota allows: ${used}, limit ${max}.`;
    default:
      return err.message;
  }
}

export function isQuotaError(err: unknown): err is ApiError {
  return err instanceof ApiError && err.code === 'quota_exceeded';
}

function leadingNumber(s: string): number | undefined {
  const m = /^\s*(\d+)/.exec(s);
  return m ? Number(m[1]) : undefined;
}
