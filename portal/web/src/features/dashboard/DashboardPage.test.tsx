import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { apiError, json, stubFetch } from '../../test/fetchStub';
import { catalog, session } from '../../test/fixtures';
import { renderPage } from '../../test/render';
import DashboardPage, { pollInterval } from './DashboardPage';

describe('DashboardPage', () => {
  it('polls every 3 s while a session starts, slower otherwise', () => {
    expect(pollInterval([session(), session({ phase: 'Pending' })])).toBe(3000);
    expect(pollInterval([session(), session({ state: 'hibernated', phase: 'Hibernated' })])).toBe(15000);
    expect(pollInterval(undefined)).toBe(15000);
  });

  it('leads to the catalog when there are no sessions', async () => {
    const { callsTo } = stubFetch({
      'GET /api/v1/sessions': json(200, { sessions: [] }),
      'GET /api/v1/templates': json(200, { templates: catalog }),
    });
    renderPage(<DashboardPage />, { route: '/dashboard' });
    expect(await screen.findByText('No sessions yet')).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Browse the catalog' })).toHaveAttribute('href', '/catalog');
    // one's own sessions, even for an admin (whose plain list holds everyone's)
    expect(callsTo('GET', '/api/v1/sessions')[0].search).toBe('?user=alice');
  });

  it('shows each session as a card named after its template', async () => {
    stubFetch({
      'GET /api/v1/sessions': json(200, {
        sessions: [session(), session({ name: 'alice-gimp-1', template: 'gimp', state: 'hibernated', phase: 'Hibernated' })],
      }),
      'GET /api/v1/templates': json(200, { templates: catalog }),
    });
    renderPage(<DashboardPage />, { route: '/dashboard' });
    const gimp = await screen.findByTestId('session-card-alice-gimp-1');
    expect(gimp).toHaveAttribute('data-state', 'hibernated');
    expect(await within(gimp).findByText('GIMP')).toBeInTheDocument();
    expect(screen.getByTestId('session-card-alice-firefox-1a2b3')).toHaveAttribute('data-state', 'running');
  });

  it('keeps a woken session waking when the list read right after still says hibernated', async () => {
    const hibernated = session({ state: 'hibernated', phase: 'Hibernated' });
    const { callsTo } = stubFetch({
      // the portal's cache has not seen the wake yet when the list is read again
      'GET /api/v1/sessions': [json(200, { sessions: [hibernated] }), json(200, { sessions: [hibernated] })],
      'GET /api/v1/templates': json(200, { templates: catalog }),
      'POST /api/v1/sessions/alice-firefox-1a2b3/wake': json(202, session({ state: 'running', phase: 'Hibernated' })),
    });
    renderPage(<DashboardPage />, { route: '/dashboard' });
    await userEvent.click(await screen.findByRole('button', { name: 'Wake' }));
    await vi.waitFor(() => expect(callsTo('GET', '/api/v1/sessions')).toHaveLength(2));
    await new Promise((resolve) => setTimeout(resolve, 50)); // the stale list applied
    const card = screen.getByTestId('session-card-alice-firefox-1a2b3');
    expect(card).toHaveAttribute('data-state', 'starting');
    expect(within(card).getByText('Waking: Finding a place to run…')).toBeInTheDocument();
  });

  it('tells why a wake was refused by the quota', async () => {
    stubFetch({
      'GET /api/v1/sessions': json(200, { sessions: [session({ state: 'hibernated', phase: 'Hibernated' })] }),
      'GET /api/v1/templates': json(200, { templates: catalog }),
      'POST /api/v1/sessions/alice-firefox-1a2b3/wake': apiError(403, 'quota_exceeded', 'quota exceeded', {
        limit: 'maxRunningSessions',
        used: '2 running',
        max: '2',
      }),
    });
    renderPage(<DashboardPage />, { route: '/dashboard' });
    await userEvent.click(await screen.findByRole('button', { name: 'Wake' }));
    expect(await screen.findByText('2 of 2 running sessions — hibernate or terminate one to start another.')).toBeInTheDocument();
  });
});
