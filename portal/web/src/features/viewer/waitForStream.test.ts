import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../api/errors';
import { apiError, json, stubFetch } from '../../test/fetchStub';
import { session } from '../../test/fixtures';
import { waitForStream, type StreamWait } from './waitForStream';

const requestedAt = '2026-11-29T12:00:00Z';
const starting = (step: 'requested' | 'scheduled' | 'image-ready') =>
  json(202, session({ state: 'running', phase: 'Pending', start: { kind: 'Wake', step, requestedAt } }), { 'Retry-After': '2' });

describe('waitForStream', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reports each start step from the 202 answers and resolves once the stream answers', async () => {
    const { callsTo } = stubFetch({
      'GET /api/v1/sessions/alice-firefox-1a2b3/connect': [
        starting('requested'),
        starting('scheduled'),
        starting('image-ready'),
        new Response(null, { status: 204 }),
      ],
    });
    const seen: StreamWait[] = [];
    const done = waitForStream('alice-firefox-1a2b3', 'WebsockifyVNC', (w) => seen.push(w), new AbortController().signal);
    await vi.advanceTimersByTimeAsync(2000 * 3);
    await expect(done).resolves.toBeUndefined();
    expect(seen.map((w) => w.session?.start?.step)).toEqual(['requested', 'scheduled', 'image-ready']);
    expect(callsTo('GET', '/api/v1/sessions/alice-firefox-1a2b3/connect')).toHaveLength(4);
  });

  it("asks a web client's path for templates that bring their own", async () => {
    const { callsTo } = stubFetch({ 'GET /api/v1/sessions/s1/web/': new Response('<html>', { status: 200 }) });
    await waitForStream('s1', 'KasmVNC', () => {}, new AbortController().signal);
    expect(callsTo('GET', '/api/v1/sessions/s1/web/')).toHaveLength(1);
  });

  it("with an apps domain (no web client on the portal's origin) asks the session's /connect", async () => {
    const { callsTo } = stubFetch({
      'GET /api/v1/sessions/s1/web/': apiError(404, 'not_found', 'no route GET /api/v1/sessions/s1/web/'),
      'GET /api/v1/sessions/s1/connect': new Response(null, { status: 204 }),
    });
    await waitForStream('s1', 'KasmVNC', () => {}, new AbortController().signal);
    expect(callsTo('GET', '/api/v1/sessions/s1/connect')).toHaveLength(1);
  });

  it('keeps waiting while the pod runs but its stream does not answer yet (502)', async () => {
    stubFetch({
      'GET /api/v1/sessions/s1/connect': [
        apiError(502, 'upstream_unavailable', 'the stream does not answer yet'),
        new Response(null, { status: 204 }),
      ],
    });
    const done = waitForStream('s1', 'WebsockifyVNC', () => {}, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(2000);
    await expect(done).resolves.toBeUndefined();
  });

  it('fails with the reason when the session cannot stream', async () => {
    stubFetch({ 'GET /api/v1/sessions/s1/connect': apiError(409, 'not_running', 'session s1 was terminated; launch a new one') });
    const err = await waitForStream('s1', 'WebsockifyVNC', () => {}, new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 409, message: 'session s1 was terminated; launch a new one' });
  });

  it('goes on through network failures, saying so', async () => {
    let calls = 0;
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => {
        calls++;
        if (calls === 1) throw new TypeError('Failed to fetch');
        return new Response(null, { status: 204 });
      }),
    );
    const seen: StreamWait[] = [];
    const done = waitForStream('s1', 'WebsockifyVNC', (w) => seen.push(w), new AbortController().signal);
    await vi.advanceTimersByTimeAsync(2000);
    await expect(done).resolves.toBeUndefined();
    expect(seen[0].problem).toMatch(/cannot be reached/);
  });

  it('stops when aborted', async () => {
    stubFetch({ 'GET /api/v1/sessions/s1/connect': starting('requested') });
    const ac = new AbortController();
    const done = waitForStream('s1', 'WebsockifyVNC', () => {}, ac.signal);
    await vi.advanceTimersByTimeAsync(10);
    ac.abort();
    await expect(done).rejects.toBeDefined();
  });
});
