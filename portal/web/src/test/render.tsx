import { render } from '@testing-library/react';
import type { ReactElement } from 'react';
import { MemoryRouter, Route, Routes } from 'react-router';
import type { Me } from '../api/models';
import { AuthContext } from '../auth/AuthContext';
import { NotifierProvider } from '../components/Notifier';
import { ColorModeProvider } from '../theme/ColorModeProvider';
import { TestTheme } from './TestTheme';

export const aliceMe: Me = {
  username: 'alice',
  role: 'user',
  groups: ['developers'],
  quota: { name: 'default', limits: { maxSessions: 5, maxRunningSessions: 3 } },
  usage: { sessions: 1, runningSessions: 1, memory: '2Gi', cpu: '1' },
};

interface Options {
  /** The URL the app is at. */
  route?: string;
  /** The route pattern the element is mounted at (for useParams). */
  path?: string;
  me?: Me;
}

/** Renders ui as the app would: theme, snackbars, router and a signed-in user. */
export function renderPage(ui: ReactElement, { route = '/', path = '*', me = aliceMe }: Options = {}) {
  const auth = { me, isAdmin: me.role === 'admin', reload: async () => {}, signOut: async () => {} };
  return render(
    <ColorModeProvider>
      <TestTheme>
        <NotifierProvider>
          <AuthContext.Provider value={auth}>
            <MemoryRouter initialEntries={[route]}>
              <Routes>
                <Route path={path} element={ui} />
                <Route path="/session/:id" element={<div data-testid="viewer-route" />} />
              </Routes>
            </MemoryRouter>
          </AuthContext.Provider>
        </NotifierProvider>
      </TestTheme>
    </ColorModeProvider>,
  );
}
