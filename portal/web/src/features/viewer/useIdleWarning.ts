import { useState } from 'react';
import { useNow } from '../../hooks/useNow';

/** Warn this long before the session hibernates for being idle. */
export const IDLE_WARNING_MS = 2 * 60_000;
/** After "I'm still here", wait this long for the new deadline before warning again. */
const SNOOZE_MS = 30_000;

export interface IdleWarning {
  open: boolean;
  /** Time left before the session hibernates. */
  remainingMs: number;
  /** The user answered: hide the warning while the portal moves the deadline. */
  snooze: () => void;
}

/** The "Still there?" warning, from the session's idle deadline. */
export function useIdleWarning(idleDeadline: string | undefined, enabled: boolean): IdleWarning {
  const now = useNow(1000);
  const [snoozedUntil, setSnoozedUntil] = useState(0);
  const deadline = idleDeadline ? Date.parse(idleDeadline) : NaN;
  const remainingMs = Number.isNaN(deadline) ? Infinity : deadline - now;
  return {
    open: enabled && remainingMs < IDLE_WARNING_MS && now >= snoozedUntil,
    remainingMs,
    snooze: () => setSnoozedUntil(Date.now() + SNOOZE_MS),
  };
}
