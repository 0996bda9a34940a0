import { describe, expect, it } from 'vitest';
import type { Session } from '../../api/models';
import { session } from '../../test/fixtures';
import { reconnectDelay } from './backoff';
import { initialViewerState, viewerReducer, type Stage, type ViewerAction, type ViewerState } from './viewerStages';

const at = 1_000_000;
const requestedAt = '2026-11-29T12:00:00Z';
const launching = session({ phase: 'Pending', start: { kind: 'Launch', step: 'scheduled', requestedAt } });
const waking = session({ phase: 'Pending', start: { kind: 'Wake', step: 'image-ready', requestedAt } });
const hibernated = session({ state: 'hibernated', phase: 'Hibernated' });
const terminated = session({ state: 'terminated', phase: 'Terminated' });
const failed = session({ phase: 'Failed', reason: 'ImageCannotStart', message: 'pull access denied' });

const state = (stage: Stage, attempts = 0, connection = 0): ViewerState => ({ stage, attempts, connection });
const run = (from: ViewerState, ...actions: ViewerAction[]) => actions.reduce(viewerReducer, from);
const dropped = (s?: Session, goingAway = false): ViewerAction => ({ type: 'dropped', session: s, goingAway, at, jitter: 0.5 });
const streaming = state({ kind: 'streaming', connected: true }, 0, 1);
const errorOf = (s: ViewerState) => (s.stage.kind === 'ended' ? (s.stage.error as Error).message : undefined);

describe('viewerReducer', () => {
  it('starts by waiting for the stream, with nothing reported yet', () => {
    expect(initialViewerState).toEqual(state({ kind: 'starting', wait: {} }));
  });

  it('shows the progress of a launch, and of a wake, as the portal reports it', () => {
    expect(run(initialViewerState, { type: 'progress', wait: { session: launching } }).stage).toEqual({
      kind: 'starting',
      wait: { session: launching },
    });
    const problem = 'The portal cannot be reached; trying again in 2s.';
    expect(run(initialViewerState, { type: 'progress', wait: { session: waking, problem } }).stage).toEqual({
      kind: 'starting',
      wait: { session: waking, problem },
    });
  });

  it('ignores a progress report that arrives once the start is over', () => {
    expect(run(streaming, { type: 'progress', wait: { session: waking } })).toBe(streaming);
  });

  it('streams once the stream is up: a web client at once, noVNC when it says it connected', () => {
    const web = run(initialViewerState, { type: 'ready', connected: true });
    expect(web).toEqual(state({ kind: 'streaming', connected: true }, 0, 1));

    const vnc = run(initialViewerState, { type: 'ready', connected: false });
    expect(vnc).toEqual(state({ kind: 'streaming', connected: false }, 0, 1));
    expect(run(vnc, { type: 'connected' })).toEqual(state({ kind: 'streaming', connected: true }, 0, 1));
  });

  it('mounts a new viewer for every stream opened', () => {
    const twice = run(
      initialViewerState,
      { type: 'ready', connected: true },
      dropped(),
      { type: 'start' },
      { type: 'ready', connected: true },
    );
    expect(twice.connection).toBe(2);
  });

  it('reconnects after a drop with a backoff that grows with each attempt', () => {
    const first = run(streaming, dropped(session()));
    expect(first).toEqual(state({ kind: 'reconnecting', attempt: 1, retryAt: at + reconnectDelay(1, () => 0.5), goingAway: false }, 1, 1));
    const second = run(first, { type: 'start' }, { type: 'ready', connected: false }, dropped(undefined, true));
    expect(second.stage).toEqual({ kind: 'reconnecting', attempt: 2, retryAt: at + reconnectDelay(2, () => 0.5), goingAway: true });
    expect(reconnectDelay(2, () => 0.5)).toBeGreaterThan(reconnectDelay(1, () => 0.5));
  });

  it('starts the backoff over once a stream connects again', () => {
    const again = run(streaming, dropped(), { type: 'start' }, { type: 'ready', connected: false }, { type: 'connected' });
    expect(again.attempts).toBe(0);
    expect(run(again, dropped()).stage).toMatchObject({ kind: 'reconnecting', attempt: 1 });
  });

  it('shows a session that went to sleep or ended under a dropped stream instead of reconnecting', () => {
    expect(run(streaming, dropped(hibernated)).stage).toEqual({ kind: 'hibernated' });
    expect(errorOf(run(streaming, dropped(terminated)))).toBe('This session was terminated.');
    expect(errorOf(run(streaming, dropped(failed)))).toBe('Image cannot start: pull access denied');
    expect(run(streaming, dropped(hibernated)).attempts).toBe(0);
  });

  it('follows the session while it streams: hibernated, terminated, failed, or still running', () => {
    expect(run(streaming, { type: 'sessionRead', session: hibernated }).stage).toEqual({ kind: 'hibernated' });
    expect(errorOf(run(streaming, { type: 'sessionRead', session: terminated }))).toBe('This session was terminated.');
    expect(errorOf(run(streaming, { type: 'sessionRead', session: session({ phase: 'Failed' }) }))).toBe('Failed: the session failed.');
    expect(run(streaming, { type: 'sessionRead', session: session() })).toBe(streaming);
  });

  it('does not take a session read while starting for the end of the start', () => {
    // a hibernated session being woken reads as hibernated until the wake is seen
    expect(run(initialViewerState, { type: 'sessionRead', session: hibernated })).toBe(initialViewerState);
    const reconnecting = run(streaming, dropped());
    expect(run(reconnecting, { type: 'sessionRead', session: hibernated })).toBe(reconnecting);
  });

  it('starts again from a reconnection, a hibernated session, or an ended one (a new launch), keeping the attempts', () => {
    const reconnecting = run(streaming, dropped());
    expect(run(reconnecting, { type: 'start' })).toEqual(state({ kind: 'starting', wait: {} }, 1, 1));
    expect(run(streaming, dropped(hibernated), { type: 'start' }).stage).toEqual({ kind: 'starting', wait: {} });
    expect(run(streaming, { type: 'failed', error: new Error('x') }, { type: 'start' }).stage).toEqual({ kind: 'starting', wait: {} });
  });

  it('ends with the error when the session cannot stream, from any stage', () => {
    const error = new Error('no such session');
    for (const from of [initialViewerState, streaming, run(streaming, dropped()), run(streaming, dropped(hibernated))]) {
      expect(run(from, { type: 'failed', error }).stage).toEqual({ kind: 'ended', error });
    }
  });
});
