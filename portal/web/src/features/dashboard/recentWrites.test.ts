import { describe, expect, it } from 'vitest';
import { session } from '../../test/fixtures';
import { RECENT_WRITE_MS, withRecentWrites, type RecentWrite } from './recentWrites';

describe('withRecentWrites', () => {
  const woken = session({ state: 'running', phase: 'Hibernated' });
  const recent = new Map<string, RecentWrite>([[woken.name, { session: woken, at: 1000 }]]);

  it('keeps what a change answered while a list disagrees on the state', () => {
    const stale = session({ state: 'hibernated', phase: 'Hibernated' });
    expect(withRecentWrites([stale], recent, 2000)).toEqual([woken]);
  });

  it('takes the list once it agrees, or once the change is old', () => {
    const starting = session({ state: 'running', phase: 'Pending' });
    expect(withRecentWrites([starting], recent, 2000)).toEqual([starting]);
    const hibernatedAgain = session({ state: 'hibernated', phase: 'Hibernated' });
    expect(withRecentWrites([hibernatedAgain], recent, 1000 + RECENT_WRITE_MS)).toEqual([hibernatedAgain]);
  });

  it('leaves other sessions and an empty record alone', () => {
    const other = session({ name: 'alice-gimp-1', state: 'hibernated' });
    expect(withRecentWrites([other], recent, 2000)).toEqual([other]);
    expect(withRecentWrites(undefined, recent, 2000)).toBeUndefined();
    const list = [other];
    expect(withRecentWrites(list, new Map(), 2000)).toBe(list);
  });
});
