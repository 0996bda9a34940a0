/**
 * How long to wait before reconnecting attempt n (1, 2, …): 1 s, 2 s, 4 s …
 * up to 30 s, with some jitter so that every viewer of a restarted portal
 * does not knock at the same moment.
 */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** WebSocket close code of a server going away: the portal restarts. */
export const GOING_AWAY = 1001;
