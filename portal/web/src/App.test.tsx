import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import { AppRoutes } from './App';
import { json, stubFetch } from './test/fetchStub';
import { aliceMe } from './test/render';
import { TestTheme } from './test/TestTheme';
import { ColorModeProvider } from './theme/ColorModeProvider';

function renderApp(route: string, role: 'user' | 'admin') {
  stubFetch({
    'GET /api/v1/users/me': json(200, { ...aliceMe, role }),
    'GET /api/v1/sessions': json(200, { sessions: [] }),
    'GET /api/v1/templates': json(200, { templates: [] }),
    'GET /api/v1/admin/users': json(200, { users: [] }),
    'GET /api/v1/plugins/theme': json(200, { theme: null }),
  });
  render(
    <ColorModeProvider>
      <TestTheme>
        <MemoryRouter initialEntries={[route]}>
          <AppRoutes />
        </MemoryRouter>
      </TestTheme>
    </ColorModeProvider>,
  );
}

/** The drawer's links; jsdom is narrow, so the drawer opens from the menu button as on a tablet. */
async function navLinks() {
  await userEvent.click(screen.getByRole('button', { name: 'Open navigation' }));
  return within(await screen.findByRole('navigation', { name: 'Main' }))
    .getAllByRole('link')
    .map((a) => a.textContent);
}

describe('navigation and admin pages', () => {
  it('shows a user their pages only, and "Not allowed" on an admin page', async () => {
    renderApp('/admin/users', 'user');
    expect(await screen.findByRole('heading', { name: 'Not allowed' })).toBeInTheDocument();
    expect(await navLinks()).toEqual(['Sessions', 'Catalog', 'Plugins', 'Installed plugins', 'API tokens']);
  });

  it('shows an admin the administration pages', async () => {
    renderApp('/admin/users', 'admin');
    // a page loaded on demand: its module may take a while on a busy machine
    expect(await screen.findByRole('heading', { name: 'Users' }, { timeout: 10_000 })).toBeInTheDocument();
    expect(await navLinks()).toEqual([
      'Sessions',
      'Catalog',
      'Plugins',
      'Installed plugins',
      'API tokens',
      'Users',
      'Templates',
      'Quotas',
      'Analytics',
      'Sync',
      'Plugin management',
    ]);
  });

  it('opens the dashboard at the root', async () => {
    renderApp('/', 'user');
    expect(await screen.findByRole('heading', { name: 'My sessions' })).toBeInTheDocument();
  });
});
