import type { Session } from '../../api/models';

/**
 * How long what a change answered outranks a list that disagrees on the
 * session's state. The portal reads sessions from a cache that catches up
 * with its own writes a moment later (another replica's cache later still):
 * a list loaded right after a wake can still say the session hibernates,
 * and the dashboard would show that, and poll slowly, for 15 s.
 */
export const RECENT_WRITE_MS = 10_000;

/** A session as a change made here (wake, hibernate, terminate) answered it. */
export interface RecentWrite {
  session: Session;
  at: number;
}

/** The list, with a session changed here moments ago as the change answered it when the list says otherwise. */
export function withRecentWrites(
  list: Session[] | undefined,
  recent: ReadonlyMap<string, RecentWrite>,
  now: number,
): Session[] | undefined {
  if (!list || recent.size === 0) return list;
  return list.map((s) => {
    const r = recent.get(s.name);
    return r && now - r.at < RECENT_WRITE_MS && r.session.state !== s.state ? r.session : s;
  });
}
