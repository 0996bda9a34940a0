import type { Session, StartProgress, StartStep } from '../../api/models';

/** What a person sees a session doing. */
export type SessionDisplayState = 'running' | 'starting' | 'hibernated' | 'failed' | 'terminated';

export function displayState(s: Session): SessionDisplayState {
  if (s.state === 'terminated' || s.phase === 'Terminated') return 'terminated';
  if (s.phase === 'Failed') return 'failed';
  if (s.state === 'hibernated') return 'hibernated';
  if (s.phase === 'Running') return 'running';
  return 'starting';
}

export const startSteps: { step: StartStep; label: string; at: 'requestedAt' | 'scheduledAt' | 'imageReadyAt' | 'streamReadyAt' }[] = [
  { step: 'requested', label: 'Requested', at: 'requestedAt' },
  { step: 'scheduled', label: 'Scheduled', at: 'scheduledAt' },
  { step: 'image-ready', label: 'Image ready', at: 'imageReadyAt' },
  { step: 'stream-ready', label: 'Stream ready', at: 'streamReadyAt' },
];

/**
 * A start reported for a session that is not running is over when it
 * reached its stream: the session went to sleep (or is going) since, and a
 * new start has not been reported yet. A launch happens once, so such a
 * session coming up again is being woken.
 */
function previousStartOver(s: Session): boolean {
  return s.phase === 'Hibernated' || (s.phase !== 'Running' && s.start?.step === 'stream-ready');
}

/**
 * The progress of the session's start under way (or of its last one, done).
 * The start before a hibernation is long over and is not shown as this
 * one's progress.
 */
export function currentStart(s: Session): StartProgress | undefined {
  return previousStartOver(s) ? undefined : s.start;
}

/** The session is being woken (or asked to be): not a launch. */
export function isWaking(s: Session): boolean {
  return previousStartOver(s) || s.state === 'hibernated' || currentStart(s)?.kind === 'Wake';
}

/** The step being worked on now, as a sentence. */
export function waitingFor(step: StartStep | undefined): string {
  switch (step) {
    case undefined:
    case 'requested':
      return 'Finding a place to run';
    case 'scheduled':
      return 'Starting the app image';
    case 'image-ready':
      return 'Waiting for the stream';
    case 'stream-ready':
      return 'Stream ready';
  }
}

/** True while any session is coming up: the dashboard then polls faster. */
export function anyStarting(sessions: Session[] | undefined): boolean {
  return (sessions ?? []).some((s) => displayState(s) === 'starting');
}

/** Active sessions first (starting, running, hibernated, failed), newest first within each. */
export function sortSessions(sessions: Session[]): Session[] {
  const order: Record<SessionDisplayState, number> = { starting: 0, running: 1, hibernated: 2, failed: 3, terminated: 4 };
  return [...sessions].sort((a, b) => order[displayState(a)] - order[displayState(b)] || Date.parse(b.createdAt) - Date.parse(a.createdAt));
}
