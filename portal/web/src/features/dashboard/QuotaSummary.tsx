import type { Me } from '../../api/models';

/** "Quota default: 1 of 3 running, 2 of 5 sessions". */
export function QuotaSummary({ me }: { me: Me }) {
  const limits = me.quota?.limits ?? {};
  const of = (used: number, max: number | undefined) => (max != null ? `${used} of ${max}` : `${used}`);
  return (
    <>
      {of(me.usage.runningSessions, limits.maxRunningSessions)} running, {of(me.usage.sessions, limits.maxSessions)} sessions
      {me.quota?.name && ` · quota “${me.quota.name}”`}
    </>
  );
}
