import { describe, expect, it, vi } from 'vitest';
import { apiError, json, stubFetch } from '../test/fetchStub';
import { createApiClient } from './client';
import { ApiError } from './errors';

const cookies = () => 'theme=dark; ss_csrf=csrf-123; other=x';

describe('API client', () => {
  it('sends the CSRF cookie as a header on every mutation, not on reads', async () => {
    const { calls } = stubFetch({
      'GET /api/v1/sessions': json(200, { sessions: [] }),
      'POST /api/v1/sessions': json(201, {}),
      'PUT /api/v1/admin/quotas/default': json(202, {}),
      'PATCH /api/v1/admin/users/bob': json(200, {}),
      'DELETE /api/v1/sessions/s1': json(200, {}),
    });
    const api = createApiClient({ cookies });
    await api.request('/sessions');
    await api.request('/sessions', { method: 'POST', body: { template: 'firefox' } });
    await api.request('/admin/quotas/default', { method: 'PUT', body: {} });
    await api.request('/admin/users/bob', { method: 'PATCH', body: {} });
    await api.request('/sessions/s1', { method: 'DELETE' });

    expect(calls[0].headers['X-CSRF-Token']).toBeUndefined();
    for (const call of calls.slice(1)) {
      expect(call.headers['X-CSRF-Token'], call.method).toBe('csrf-123');
    }
    expect(calls.every((c) => c.credentials === 'same-origin')).toBe(true);
    expect(calls[1].body).toEqual({ template: 'firefox' });
    expect(calls[1].headers['Content-Type']).toBe('application/json');
  });

  it('prefers the __Host- CSRF cookie (TLS) over a plain-named one a sibling host could plant', async () => {
    const { calls } = stubFetch({ 'POST /api/v1/sessions': json(201, {}) });
    const api = createApiClient({ cookies: () => 'ss_csrf=planted; __Host-ss_csrf=mine' });
    await api.request('/sessions', { method: 'POST', body: {} });
    expect(calls[0].headers['X-CSRF-Token']).toBe('mine');
  });

  it('renews the sign-in once on a 401 and retries the request', async () => {
    const { callsTo } = stubFetch({
      'GET /api/v1/users/me': [apiError(401, 'unauthenticated', 'token expired'), json(200, { username: 'alice' })],
      'POST /api/v1/auth/refresh': json(200, {}),
    });
    const expired = vi.fn();
    const api = createApiClient({ cookies, onSignInExpired: expired });

    await expect(api.request('/users/me')).resolves.toEqual({ username: 'alice' });
    expect(callsTo('POST', '/api/v1/auth/refresh')).toHaveLength(1);
    expect(callsTo('GET', '/api/v1/users/me')).toHaveLength(2);
    expect(expired).not.toHaveBeenCalled();
  });

  it('shares one renewal between concurrent 401s (a rotated refresh token must not be used twice)', async () => {
    let renewed = false;
    let release!: () => void;
    const refreshDone = new Promise<void>((r) => (release = r));
    const { callsTo } = stubFetch({
      'GET /api/v1/sessions': () => (renewed ? json(200, { sessions: [] }) : apiError(401, 'unauthenticated', 'expired')),
      'GET /api/v1/templates': () => (renewed ? json(200, { templates: [] }) : apiError(401, 'unauthenticated', 'expired')),
      'GET /api/v1/users/me': () => (renewed ? json(200, {}) : apiError(401, 'unauthenticated', 'expired')),
      'POST /api/v1/auth/refresh': async () => {
        await refreshDone;
        renewed = true;
        return json(200, {});
      },
    });
    const api = createApiClient({ cookies, onSignInExpired: vi.fn() });

    const all = Promise.all([api.request('/sessions'), api.request('/templates'), api.request('/users/me')]);
    await vi.waitFor(() => expect(callsTo('POST', '/api/v1/auth/refresh')).toHaveLength(1));
    release();
    await expect(all).resolves.toHaveLength(3);
    expect(callsTo('POST', '/api/v1/auth/refresh')).toHaveLength(1);
    expect(callsTo('GET', '/api/v1/sessions')).toHaveLength(2);
  });

  it('does not renew again for a request that was sent before the renewal finished', async () => {
    let renewed = false;
    let answerLate!: () => void;
    const late = new Promise<void>((r) => (answerLate = r));
    const { callsTo } = stubFetch({
      'GET /api/v1/sessions': () => (renewed ? json(200, { sessions: [] }) : apiError(401, 'unauthenticated', 'expired')),
      // sent with the old cookie, answered only after the renewal
      'GET /api/v1/templates': [
        async () => {
          await late;
          return apiError(401, 'unauthenticated', 'expired');
        },
        json(200, { templates: [] }),
      ],
      'POST /api/v1/auth/refresh': () => {
        renewed = true;
        return json(200, {});
      },
    });
    const api = createApiClient({ cookies, onSignInExpired: vi.fn() });

    const templates = api.request('/templates');
    await api.request('/sessions');
    answerLate();
    await expect(templates).resolves.toEqual({ templates: [] });
    expect(callsTo('POST', '/api/v1/auth/refresh')).toHaveLength(1);
  });

  it('sends the browser to sign in when the renewal fails', async () => {
    const { callsTo } = stubFetch({
      'GET /api/v1/sessions': apiError(401, 'unauthenticated', 'token expired'),
      'POST /api/v1/auth/refresh': apiError(401, 'unauthenticated', 'refresh token revoked'),
    });
    const expired = vi.fn();
    const api = createApiClient({ cookies, onSignInExpired: expired });

    const err = await api.request('/sessions').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect(expired).toHaveBeenCalledTimes(1);
    expect(callsTo('GET', '/api/v1/sessions')).toHaveLength(1);
  });

  it('redirects to /login with the current path by default', async () => {
    stubFetch({
      'GET /api/v1/sessions': apiError(401, 'unauthenticated', 'expired'),
      'POST /api/v1/auth/refresh': apiError(401, 'unauthenticated', 'expired'),
    });
    const assign = vi.fn();
    vi.stubGlobal('location', { ...window.location, pathname: '/session/alice-firefox-1', search: '?x=1', assign });
    const api = createApiClient({ cookies });
    await api.request('/sessions').catch(() => {});
    expect(assign).toHaveBeenCalledWith('/login?redirect=%2Fsession%2Falice-firefox-1%3Fx%3D1');
  });

  it('takes a 401 of a sign-in call as the answer (wrong password), without renewing', async () => {
    const { callsTo } = stubFetch({ 'POST /api/v1/auth/login': apiError(401, 'unauthenticated', 'wrong username or password') });
    const expired = vi.fn();
    const api = createApiClient({ cookies, onSignInExpired: expired });
    await expect(api.request('/auth/login', { method: 'POST', body: {}, auth: false })).rejects.toThrow('wrong username or password');
    expect(callsTo('POST', '/api/v1/auth/refresh')).toHaveLength(0);
    expect(expired).not.toHaveBeenCalled();
  });

  it('turns error answers into ApiErrors with code, message, fields and Retry-After', async () => {
    stubFetch({
      'POST /api/v1/sessions': apiError(403, 'quota_exceeded', 'quota "default" exceeded', {
        limit: 'maxRunningSessions',
        used: '3 running',
        max: '3',
      }),
      'POST /api/v1/auth/login': json(
        429,
        { error: { code: 'rate_limited', message: 'too many sign-in attempts' } },
        { 'Retry-After': '12' },
      ),
    });
    const api = createApiClient({ cookies });
    const quota = (await api.request('/sessions', { method: 'POST', body: {} }).catch((e: unknown) => e)) as ApiError;
    expect(quota).toMatchObject({ status: 403, code: 'quota_exceeded', message: 'quota "default" exceeded' });
    expect(quota.fields).toEqual({ limit: 'maxRunningSessions', used: '3 running', max: '3' });
    const limited = (await api.request('/auth/login', { method: 'POST', body: {}, auth: false }).catch((e: unknown) => e)) as ApiError;
    expect(limited).toMatchObject({ status: 429, code: 'rate_limited', retryAfterMs: 12_000 });
  });

  it('reports a portal it cannot reach as a network ApiError', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')));
    const api = createApiClient({ cookies });
    await expect(api.request('/sessions')).rejects.toMatchObject({ status: 0, code: 'network' });
  });
});
