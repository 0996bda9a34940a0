import { describe, expect, it } from 'vitest';
import { ApiError } from '../../api/errors';
import { isQuotaError, quotaMessage } from './quotaMessage';

const quota = (fields: Record<string, string>, message = 'quota "default" exceeded') =>
  new ApiError(403, 'quota_exceeded', message, fields);

describe('quotaMessage', () => {
  it('counts running sessions against the limit', () => {
    expect(quotaMessage(quota({ limit: 'maxRunningSessions', used: '3 running', max: '3' }))).toBe(
      '3 of 3 running sessions — hibernate or terminate one to start another.',
    );
  });

  it('counts all sessions against the limit', () => {
    expect(quotaMessage(quota({ limit: 'maxSessions', used: '5 sessions', max: '5' }))).toBe(
      '5 of 5 sessions — terminate one to create another.',
    );
  });

  it('names the resource that runs out', () => {
    expect(quotaMessage(quota({ limit: 'memory', used: '6Gi running + 4Gi requested', max: '8Gi' }))).toBe(
      'Not enough memory left in your quota: 6Gi running + 4Gi requested, limit 8Gi. Terminate or hibernate a session to free some.',
    );
    expect(quotaMessage(quota({ limit: 'cpu', used: '3 running + 2 requested', max: '4' }))).toContain('Not enough CPU left');
  });

  it("falls back to the portal's message for limits it does not know or missing fields", () => {
    expect(quotaMessage(quota({}, 'admission webhook denied: quota exceeded'))).toBe('admission webhook denied: quota exceeded');
    expect(quotaMessage(quota({ limit: 'gpus', used: '1', max: '1' }, 'gpu quota'))).toBe('gpu quota');
  });

  it('knows a quota error from others', () => {
    expect(isQuotaError(quota({}))).toBe(true);
    expect(isQuotaError(new ApiError(403, 'forbidden', 'no'))).toBe(false);
    expect(isQuotaError(new Error('x'))).toBe(false);
  });
});
