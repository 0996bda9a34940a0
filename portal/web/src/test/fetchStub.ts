import { vi } from 'vitest';

/** One recorded request. */
export interface Call {
  method: string;
  path: string;
  /** The query string, e.g. "?user=alice". */
  search: string;
  headers: Record<string, string>;
  body: unknown;
  credentials?: RequestCredentials;
}

type Reply = Response | ((call: Call) => Response | Promise<Response>);

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

export function apiError(status: number, code: string, message: string, fields?: Record<string, string>): Response {
  return json(status, { error: { code, message, fields } });
}

/**
 * A fetch for tests: answers by "METHOD /path" (query string ignored) from
 * queues of replies — each call takes the next reply; the last one repeats.
 * Unknown routes answer 404 in the API's shape.
 */
export function stubFetch(routes: Record<string, Reply | Reply[]>) {
  const calls: Call[] = [];
  const queues = new Map(Object.entries(routes).map(([k, v]) => [k, Array.isArray(v) ? [...v] : [v]]));
  const fetch = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), 'http://localhost');
    const method = (init.method ?? 'GET').toUpperCase();
    const call: Call = {
      method,
      path: url.pathname,
      search: url.search,
      headers: { ...(init.headers as Record<string, string>) },
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      credentials: init.credentials,
    };
    calls.push(call);
    const queue = queues.get(`${method} ${url.pathname}`);
    if (!queue || queue.length === 0) return apiError(404, 'not_found', `no stub for ${method} ${url.pathname}`);
    const reply = queue.length > 1 ? queue.shift()! : queue[0];
    const res = typeof reply === 'function' ? await reply(call) : reply.clone();
    return res;
  });
  vi.stubGlobal('fetch', fetch);
  return { fetch, calls, callsTo: (method: string, path: string) => calls.filter((c) => c.method === method && c.path === path) };
}
