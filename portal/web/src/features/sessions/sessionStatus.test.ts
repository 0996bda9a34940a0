import { describe, expect, it } from 'vitest';
import type { StartProgress } from '../../api/models';
import { session } from '../../test/fixtures';
import { currentStart, isWaking } from './sessionStatus';

const done: StartProgress = {
  kind: 'Launch',
  step: 'stream-ready',
  requestedAt: '2026-11-29T11:00:00Z',
  streamReadyAt: '2026-11-29T11:00:05Z',
};
const waking: StartProgress = { kind: 'Wake', step: 'scheduled', requestedAt: '2026-11-29T12:00:00Z' };

describe('currentStart and isWaking', () => {
  it('keep the start of a running or starting session', () => {
    expect(currentStart(session({ start: done }))).toBe(done);
    expect(isWaking(session({ start: done }))).toBe(false);
    expect(currentStart(session({ phase: 'Pending', start: waking }))).toBe(waking);
    expect(isWaking(session({ phase: 'Pending', start: waking }))).toBe(true);
  });

  it('drop the start before the sleep while the session is hibernated or its wake has not begun', () => {
    expect(currentStart(session({ state: 'hibernated', phase: 'Hibernated', start: done }))).toBeUndefined();
    expect(currentStart(session({ state: 'running', phase: 'Hibernated', start: done }))).toBeUndefined();
    expect(isWaking(session({ state: 'running', phase: 'Hibernated', start: done }))).toBe(true);
  });

  it('drop a finished start of a session woken before it was reported asleep', () => {
    // hibernated and woken at once: the phase never showed Hibernated, the
    // launch before is still reported, and the wake's own start is not yet
    const racing = session({ state: 'running', phase: 'Pending', start: done });
    expect(currentStart(racing)).toBeUndefined();
    expect(isWaking(racing)).toBe(true);
  });
});
