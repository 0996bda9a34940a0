import { ApiError } from '../../api/errors';
import { probeStream } from '../../api/sessions';
import type { Session, StreamProtocol } from '../../api/models';
import { formatDuration } from '../../lib/time';
import { reconnectDelay } from './backoff';

export interface StreamWait {
  /** The session as the portal last reported it while it starts. */
  session?: Session;
  /** Set while the portal cannot be reached and the wait goes on. */
  problem?: string;
}

/**
 * Waits until the session streams. Asking the stream endpoint wakes a
 * hibernated session, and until the stream is up it answers with the
 * session and its start progress, passed to onProgress. Resolves once the
 * stream is up; rejects with the portal's ApiError when the session cannot
 * stream (terminated, failed, gone); goes on through network failures.
 */
export async function waitForStream(
  id: string,
  protocol: StreamProtocol,
  onProgress: (wait: StreamWait) => void,
  signal: AbortSignal,
): Promise<void> {
  let failures = 0;
  let last: Session | undefined;
  for (;;) {
    let delay: number;
    try {
      // with an apps domain, a web client is not served on the portal's
      // origin (404): its session's /connect answers whether it streams
      // (Running: its stream port passed the readiness probe)
      const probe = await probeStream(id, protocol, signal).catch((err: unknown) => {
        if (protocol !== 'WebsockifyVNC' && err instanceof ApiError && err.status === 404 && err.code === 'not_found')
          return probeStream(id, 'WebsockifyVNC', signal);
        throw err;
      });
      if (probe.ready) return;
      failures = 0;
      last = probe.session ?? last;
      onProgress({ session: last });
      delay = probe.retryAfterMs;
    } catch (err) {
      if (signal.aborted) throw err;
      if (!(err instanceof ApiError) || err.status !== 0) throw err;
      failures++;
      delay = reconnectDelay(failures);
      onProgress({ session: last, problem: `The portal cannot be reached; trying again in ${formatDuration(delay)}.` });
    }
    await sleep(delay, signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
