import { CSRF_HEADER, readCSRF } from './csrf';
import { ApiError } from './errors';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RequestOptions {
  method?: Method;
  /** Sent as JSON. */
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  /**
   * false for the calls that are themselves about signing in: their 401 is
   * an answer (a wrong password), not an expired sign-in.
   */
  auth?: boolean;
}

export interface ApiClientOptions {
  /** Where the API lives; default /api/v1. */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Called when the sign-in cannot be renewed; default: go to /login. */
  onSignInExpired?: () => void;
  cookies?: () => string;
}

export interface ApiClient {
  /** The answer of the API, or an ApiError for any status but 2xx. */
  request<T>(path: string, options?: RequestOptions): Promise<T>;
  /** The raw response, after the sign-in was renewed if it had to be. */
  raw(path: string, options?: RequestOptions): Promise<Response>;
}

const MUTATIONS = new Set<Method>(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Creates the API client. Browsers are signed in by HttpOnly cookies; the
 * client adds the CSRF header to mutations and, when the short-lived access
 * cookie has expired (401), renews it once with the refresh cookie and
 * retries. Concurrent 401s share that one renewal: the refresh token is
 * rotated on use, and a second refresh with the same token would be taken
 * for a stolen one and sign the user out everywhere.
 */
export function createApiClient(options: ApiClientOptions = {}): ApiClient {
  const baseUrl = options.baseUrl ?? '/api/v1';
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const cookies = options.cookies ?? (() => document.cookie);
  const onSignInExpired = options.onSignInExpired ?? redirectToLogin;

  let renewal: Promise<boolean> | null = null;
  // Counts renewals, so a request that was sent before the latest renewal
  // finished retries with the new cookie instead of renewing again.
  let generation = 0;

  function renewOnce(): Promise<boolean> {
    renewal ??= send('/auth/refresh', { method: 'POST', body: {} })
      .then((res) => {
        if (res.ok) generation++;
        return res.ok;
      })
      .catch(() => false)
      .finally(() => {
        renewal = null;
      });
    return renewal;
  }

  function send(path: string, opts: RequestOptions): Promise<Response> {
    const method = opts.method ?? 'GET';
    const headers: Record<string, string> = { Accept: 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    if (MUTATIONS.has(method)) {
      const csrf = readCSRF(cookies());
      if (csrf) headers[CSRF_HEADER] = csrf;
    }
    return doFetch(baseUrl + path + queryString(opts.query), {
      method,
      headers,
      body,
      credentials: 'same-origin',
      signal: opts.signal,
    });
  }

  async function raw(path: string, opts: RequestOptions = {}): Promise<Response> {
    const sentAt = generation;
    let res: Response;
    try {
      res = await send(path, opts);
    } catch (err) {
      if (isAbort(err)) throw err;
      throw ApiError.network(err);
    }
    if (res.status !== 401 || opts.auth === false) return res;

    const renewed = generation !== sentAt || (await renewOnce());
    if (renewed) {
      try {
        res = await send(path, opts);
      } catch (err) {
        if (isAbort(err)) throw err;
        throw ApiError.network(err);
      }
      if (res.status !== 401) return res;
    }
    onSignInExpired();
    return res;
  }

  async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await raw(path, opts);
    if (!res.ok) throw await ApiError.from(res);
    return (await readBody(res)) as T;
  }

  return { request, raw };
}

/** The JSON body of a response, or undefined when it has none. */
export async function readBody(res: Response): Promise<unknown> {
  if (res.status === 204 || res.status === 205) return undefined;
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function queryString(query: RequestOptions['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? '?' + qs : '';
}

function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

/** The sign-in page, coming back here afterwards. */
export function loginPath(current: string): string {
  return '/login?redirect=' + encodeURIComponent(current);
}

function redirectToLogin(): void {
  const { pathname, search } = window.location;
  if (pathname === '/login') return;
  window.location.assign(loginPath(pathname + search));
}
