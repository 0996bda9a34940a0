import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter, Route, Routes, useLocation } from 'react-router';
import { describe, expect, it, vi } from 'vitest';
import { apiError, json, stubFetch } from '../../test/fetchStub';
import { TestTheme } from '../../test/TestTheme';
import { ColorModeProvider } from '../../theme/ColorModeProvider';
import LoginPage from './LoginPage';
import { safeRedirect } from './safeRedirect';

function Where() {
  const l = useLocation();
  return <div data-testid="where">{l.pathname}</div>;
}

function renderLogin(route = '/login?redirect=%2Fcatalog') {
  render(
    <ColorModeProvider>
      <TestTheme>
        <MemoryRouter initialEntries={[route]}>
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route path="*" element={<Where />} />
          </Routes>
        </MemoryRouter>
      </TestTheme>
    </ColorModeProvider>,
  );
}

const notSignedIn = {
  'GET /api/v1/users/me': apiError(401, 'unauthenticated', 'no token'),
  'POST /api/v1/auth/refresh': apiError(401, 'unauthenticated', 'no refresh token'),
  'GET /api/v1/auth/providers': json(200, { local: true, oidc: { enabled: false, name: '' } }),
};

async function signIn(password = 'secret-password') {
  const user = userEvent.setup({ delay: null });
  await user.type(screen.getByLabelText(/Username/), 'alice');
  await user.type(screen.getByLabelText(/^Password/), password);
  await user.click(screen.getByRole('button', { name: 'Sign in' }));
}

describe('LoginPage', () => {
  it('signs in and goes where the user was going', async () => {
    const { callsTo } = stubFetch({ ...notSignedIn, 'POST /api/v1/auth/login': json(200, {}) });
    renderLogin();
    await signIn();
    expect(await screen.findByTestId('where')).toHaveTextContent('/catalog');
    expect(callsTo('POST', '/api/v1/auth/login')[0].body).toEqual({ username: 'alice', password: 'secret-password' });
  });

  it('says clearly when the password is wrong', async () => {
    stubFetch({ ...notSignedIn, 'POST /api/v1/auth/login': apiError(401, 'unauthenticated', 'wrong username or password') });
    renderLogin();
    await signIn('nope');
    expect(await screen.findByRole('alert')).toHaveTextContent('Wrong username or password');
  });

  it('holds the form back while rate limited', async () => {
    stubFetch({
      ...notSignedIn,
      'POST /api/v1/auth/login': json(
        429,
        { error: { code: 'rate_limited', message: 'too many sign-in attempts; try again in 12s' } },
        { 'Retry-After': '12' },
      ),
    });
    renderLogin();
    await signIn();
    expect(await screen.findByRole('alert')).toHaveTextContent(/Too many attempts.*wait 1[12]s/);
    expect(screen.getByRole('button', { name: /Sign in \(wait 1[12]s\)/ })).toBeDisabled();
  });

  it('offers single sign-on when the portal has it', async () => {
    const assign = vi.fn();
    vi.stubGlobal('location', { ...window.location, pathname: '/login', assign });
    stubFetch({ ...notSignedIn, 'GET /api/v1/auth/providers': json(200, { local: true, oidc: { enabled: true, name: 'Dex' } }) });
    renderLogin('/login?redirect=%2Fadmin%2Fusers');
    await userEvent.click(await screen.findByRole('button', { name: 'Sign in with Dex' }));
    expect(assign).toHaveBeenCalledWith('/api/v1/auth/oidc/login?redirect=%2Fadmin%2Fusers');
  });

  it('goes straight on when already signed in', async () => {
    stubFetch({ ...notSignedIn, 'GET /api/v1/users/me': json(200, { username: 'alice' }) });
    renderLogin();
    expect(await screen.findByTestId('where')).toHaveTextContent('/catalog');
  });

  it('returns only to paths of this site', () => {
    expect(safeRedirect('/session/a-b-c?x=1')).toBe('/session/a-b-c?x=1');
    expect(safeRedirect('//evil.example/x')).toBe('/dashboard');
    expect(safeRedirect('https://evil.example')).toBe('/dashboard');
    expect(safeRedirect(null)).toBe('/dashboard');
  });
});
