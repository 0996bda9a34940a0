import { describe, expect, it } from 'vitest';
import { ApiError } from '../../api/errors';
import { apiError, json, stubFetch } from '../../test/fetchStub';
import { streamSocketUrl, webClientSrc } from './appsTicket';

describe('webClientSrc', () => {
  it("is the apps host's sign-in URL from a fresh ticket", async () => {
    const url = 'https://s1.apps.example.com/_streamspace/auth?ticket=t';
    const { callsTo } = stubFetch({
      'POST /api/v1/sessions/s1/apps-ticket': json(201, {
        url,
        connect: 'wss://s1.apps.example.com/_streamspace/connect?ticket=t',
        origin: 'https://s1.apps.example.com',
        expiresAt: '2026-12-07T16:00:00Z',
      }),
    });
    await expect(webClientSrc('s1')).resolves.toBe(url);
    expect(callsTo('POST', '/api/v1/sessions/s1/apps-ticket')).toHaveLength(1);
  });

  it("is the path on the portal's origin when there is no apps domain", async () => {
    stubFetch({ 'POST /api/v1/sessions/s1/apps-ticket': apiError(404, 'not_found', 'no apps domain is configured (--apps-domain)') });
    await expect(webClientSrc('s1')).resolves.toBe('/api/v1/sessions/s1/web/');
  });

  it('fails with the reason otherwise', async () => {
    stubFetch({ 'POST /api/v1/sessions/s.1/apps-ticket': apiError(409, 'conflict', 'its name is not one DNS label') });
    await expect(webClientSrc('s.1')).rejects.toBeInstanceOf(ApiError);
  });
});

describe('streamSocketUrl', () => {
  it("is the apps host's stream URL from a fresh ticket", async () => {
    const connect = 'wss://s1.apps.example.com/_streamspace/connect?ticket=t';
    stubFetch({
      'POST /api/v1/sessions/s1/apps-ticket': json(201, {
        url: 'https://s1.apps.example.com/_streamspace/auth?ticket=t',
        connect,
        origin: 'https://s1.apps.example.com',
        expiresAt: '2026-12-07T16:00:00Z',
      }),
    });
    await expect(streamSocketUrl('s1')).resolves.toBe(connect);
  });

  it("is /connect on the portal's origin when there is no apps domain", async () => {
    stubFetch({ 'POST /api/v1/sessions/s1/apps-ticket': apiError(404, 'not_found', 'no apps domain is configured (--apps-domain)') });
    await expect(streamSocketUrl('s1')).resolves.toBe('ws://localhost:3000/api/v1/sessions/s1/connect');
  });

  it('fails with the reason otherwise, never falling back to the portal', async () => {
    stubFetch({ 'POST /api/v1/sessions/s1/apps-ticket': apiError(404, 'not_found', 'no session "s1"') });
    await expect(streamSocketUrl('s1')).rejects.toBeInstanceOf(ApiError);
  });
});
