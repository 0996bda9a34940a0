import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { StartProgress } from '../../api/models';
import { StartProgressStepper } from './StartProgressStepper';

const requestedAt = '2026-11-29T12:00:00Z';
const after = (s: number) => new Date(Date.parse(requestedAt) + s * 1000).toISOString();

function steps() {
  const stepper = screen.getByTestId('start-progress');
  return {
    stepper,
    labels: within(stepper)
      .getAllByRole('listitem')
      .map((li) => li.getAttribute('aria-label')),
  };
}

describe('StartProgressStepper', () => {
  it('waits for scheduling right after the request', () => {
    render(<StartProgressStepper progress={{ kind: 'Wake', step: 'requested', requestedAt }} />);
    const { stepper, labels } = steps();
    expect(stepper).toHaveAttribute('data-step', 'requested');
    expect(labels).toEqual(['Requested: done', 'Scheduled: in progress', 'Image ready: waiting', 'Stream ready: waiting']);
  });

  it('shows how long each step took since the request', () => {
    const progress: StartProgress = { kind: 'Wake', step: 'image-ready', requestedAt, scheduledAt: after(2), imageReadyAt: after(14) };
    render(<StartProgressStepper progress={progress} />);
    const { stepper, labels } = steps();
    expect(stepper).toHaveAttribute('data-step', 'image-ready');
    expect(labels).toEqual(['Requested: done', 'Scheduled: done', 'Image ready: done', 'Stream ready: in progress']);
    expect(within(stepper).getByText('+2s')).toBeInTheDocument();
    expect(within(stepper).getByText('+14s')).toBeInTheDocument();
  });

  it('ends with every step done', () => {
    render(
      <StartProgressStepper
        progress={{
          kind: 'Launch',
          step: 'stream-ready',
          requestedAt,
          scheduledAt: after(1),
          imageReadyAt: after(30),
          streamReadyAt: after(95),
        }}
      />,
    );
    expect(steps().labels.every((l) => l?.endsWith(': done'))).toBe(true);
    expect(screen.getByText('+1m 35s')).toBeInTheDocument();
  });

  it('shows nothing done before any progress is known', () => {
    render(<StartProgressStepper progress={undefined} />);
    expect(steps().labels[0]).toBe('Requested: in progress');
  });
});
