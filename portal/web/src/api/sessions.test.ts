import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, stubFetch } from '../test/fetchStub';
import { listSessions } from './sessions';

afterEach(() => vi.unstubAllGlobals());

describe('listSessions', () => {
  it('follows the continue tokens to the last page, keeping the filter', async () => {
    const { calls } = stubFetch({
      'GET /api/v1/sessions': [
        json(200, { sessions: [{ name: 'a' }, { name: 'b' }], continue: 'tok-1', remainingItemCount: 1 }),
        json(200, { sessions: [{ name: 'c' }] }),
      ],
    });
    const list = await listSessions(undefined, 'alice');
    expect(list.map((s) => s.name)).toEqual(['a', 'b', 'c']);
    expect(calls.map((c) => c.search)).toEqual(['?user=alice', '?user=alice&continue=tok-1']);
  });
});
