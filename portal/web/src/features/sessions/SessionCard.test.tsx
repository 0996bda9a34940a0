import { fireEvent, screen, waitForElementToBeRemoved, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { StartStep } from '../../api/models';
import { session, template } from '../../test/fixtures';
import { renderPage } from '../../test/render';
import { SessionCard } from './SessionCard';

const now = Date.parse('2026-11-29T12:00:00Z');
const at = (minutes: number) => new Date(now + minutes * 60_000).toISOString();

function renderCard(
  s = session(),
  handlers = {
    onWake: vi.fn().mockResolvedValue(undefined),
    onHibernate: vi.fn().mockResolvedValue(undefined),
    onTerminate: vi.fn().mockResolvedValue(undefined),
  },
) {
  renderPage(<SessionCard session={s} template={template()} now={now} {...handlers} />);
  return { card: screen.getByTestId(`session-card-${s.name}`), ...handlers };
}

describe('SessionCard', () => {
  it('shows a running session with its idle countdown, Connect and Terminate', () => {
    const { card } = renderCard(session({ idleDeadline: at(12), lastActivity: at(-3) }));
    expect(card).toHaveAttribute('data-state', 'running');
    expect(within(card).getByText('Running')).toBeInTheDocument();
    expect(within(card).getByText('Hibernates in 12m if idle')).toBeInTheDocument();
    expect(within(card).getByRole('link', { name: 'Connect' })).toHaveAttribute('href', '/session/alice-firefox-1a2b3');
    expect(within(card).getByRole('button', { name: 'Terminate' })).toBeInTheDocument();
    expect(within(card).queryByRole('button', { name: 'Wake' })).not.toBeInTheDocument();
  });

  it('hibernates a running session on request', async () => {
    const { card, onHibernate } = renderCard(session({ idleDeadline: at(12) }));
    await userEvent.click(within(card).getByRole('button', { name: 'Hibernate' }));
    expect(onHibernate).toHaveBeenCalledWith(expect.objectContaining({ name: 'alice-firefox-1a2b3' }));
  });

  it('offers no Hibernate for a session that is not running', () => {
    const { card } = renderCard(session({ state: 'hibernated', phase: 'Hibernated', lastActivity: at(-40) }));
    expect(within(card).queryByRole('button', { name: 'Hibernate' })).not.toBeInTheDocument();
  });

  const steps: [StartStep | undefined, string, string][] = [
    [undefined, 'Finding a place to run', 'Step 2 of 4'],
    ['requested', 'Finding a place to run', 'Step 2 of 4'],
    ['scheduled', 'Starting the app image', 'Step 3 of 4'],
    ['image-ready', 'Waiting for the stream', 'Step 4 of 4'],
  ];
  it.each(steps)('shows a starting session at step %s', (step, doing, count) => {
    const start = step && { kind: 'Launch' as const, step, requestedAt: at(-1) };
    const { card } = renderCard(session({ phase: 'Pending', start, message: 'Pulling image lscr.io/firefox:1.0' }));
    expect(card).toHaveAttribute('data-state', 'starting');
    if (step) expect(card).toHaveAttribute('data-step', step);
    expect(within(card).getByText(`Launching: ${doing}…`)).toBeInTheDocument();
    expect(within(card).getByText(count)).toBeInTheDocument();
    expect(within(card).getByText('Pulling image lscr.io/firefox:1.0')).toBeInTheDocument();
    expect(within(card).getByRole('link', { name: 'Open' })).toBeInTheDocument();
  });

  it('says Waking for a woken session', () => {
    const { card } = renderCard(session({ phase: 'Pending', start: { kind: 'Wake', step: 'scheduled', requestedAt: at(-1) } }));
    expect(card).toHaveAttribute('data-state', 'starting');
    expect(within(card).getByText('Waking: Starting the app image…')).toBeInTheDocument();
  });

  it('does not show the start before the sleep as the progress of a wake just asked', () => {
    const before = { kind: 'Launch' as const, step: 'stream-ready' as const, requestedAt: at(-60), streamReadyAt: at(-60) };
    const { card } = renderCard(session({ phase: 'Hibernated', start: before }));
    expect(card).toHaveAttribute('data-state', 'starting');
    expect(within(card).getByText('Waking: Finding a place to run…')).toBeInTheDocument();
    expect(within(card).getByText('Step 2 of 4')).toBeInTheDocument();
  });

  it('offers Wake for a hibernated session and calls it', async () => {
    const { card, onWake } = renderCard(session({ state: 'hibernated', phase: 'Hibernated', lastActivity: at(-40) }));
    expect(card).toHaveAttribute('data-state', 'hibernated');
    expect(within(card).getByText(/last active 40m ago/)).toBeInTheDocument();
    expect(within(card).queryByRole('link', { name: 'Connect' })).not.toBeInTheDocument();
    await userEvent.click(within(card).getByRole('button', { name: 'Wake' }));
    expect(onWake).toHaveBeenCalledWith(expect.objectContaining({ name: 'alice-firefox-1a2b3' }));
  });

  it('shows why a session failed', () => {
    const { card } = renderCard(
      session({ phase: 'Failed', reason: 'ImageCannotStart', message: 'container app cannot start: ErrImagePull: not found' }),
    );
    expect(card).toHaveAttribute('data-state', 'failed');
    expect(within(card).getByText('Image cannot start')).toBeInTheDocument();
    expect(within(card).getByText('container app cannot start: ErrImagePull: not found')).toBeInTheDocument();
    expect(within(card).queryByRole('link')).not.toBeInTheDocument();
    expect(within(card).getByRole('button', { name: 'Terminate' })).toBeInTheDocument();
  });

  it('terminates only after confirmation', async () => {
    const user = userEvent.setup({ delay: null });
    const { card, onTerminate } = renderCard();
    await user.click(within(card).getByRole('button', { name: 'Terminate' }));
    const dialog = await screen.findByRole('dialog', { name: 'Terminate Firefox?' });
    // fireEvent: user-event may find the dialog still entering (pointer
    // events off) on a busy machine and drop the click
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    // the dialog's exit transition; a busy machine needs more than the
    // default second
    await waitForElementToBeRemoved(dialog, { timeout: 10_000 });
    expect(onTerminate).not.toHaveBeenCalled();

    await user.click(within(card).getByRole('button', { name: 'Terminate' }));
    await user.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Terminate' }));
    expect(onTerminate).toHaveBeenCalledTimes(1);
  });

  it('keeps the confirmation open with the error when terminating fails', async () => {
    const user = userEvent.setup({ delay: null });
    const { card } = renderCard(session(), {
      onWake: vi.fn(),
      onHibernate: vi.fn(),
      onTerminate: vi.fn().mockRejectedValue(new Error('the portal is restarting')),
    });
    await user.click(within(card).getByRole('button', { name: 'Terminate' }));
    const dialog = await screen.findByRole('dialog');
    await user.click(within(dialog).getByRole('button', { name: 'Terminate' }));
    expect(await within(dialog).findByText('the portal is restarting')).toBeInTheDocument();
  });
});
