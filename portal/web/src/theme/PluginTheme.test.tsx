import { useTheme } from '@mui/material/styles';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import { AppRoutes } from '../App';
import { aliceMe } from '../test/render';
import { apiError, json, stubFetch } from '../test/fetchStub';
import { TestTheme } from '../test/TestTheme';
import { ColorModeProvider } from './ColorModeProvider';
import { PluginThemeProvider, productOf } from './PluginTheme';

const midnight = {
  plugin: 'midnight',
  displayName: 'Midnight',
  palette: { primary: '#7aa2f7', secondary: '#bb9af7', background: '#1a1b26', surface: '#24283b', text: '#c0caf5' },
  logo: '/api/v1/plugins/theme/logo?v=0123456789ab',
};

const notSignedIn = {
  'GET /api/v1/users/me': apiError(401, 'unauthenticated', 'no token'),
  'POST /api/v1/auth/refresh': apiError(401, 'unauthenticated', 'no refresh token'),
  'GET /api/v1/auth/providers': json(200, { local: true, oidc: { enabled: false, name: '' } }),
};

/** The colours MUI resolved, where the test can read them. */
function Palette() {
  const t = useTheme();
  return <output data-testid="palette">{`${t.palette.primary.main} ${t.palette.secondary.main}`}</output>;
}

function renderAt(route: string, theme: Response, signedIn = false) {
  const stub = stubFetch({
    ...notSignedIn,
    ...(signedIn ? { 'GET /api/v1/users/me': json(200, aliceMe) } : {}),
    'GET /api/v1/plugins/theme': theme,
    'GET /api/v1/sessions': json(200, { sessions: [] }),
    'GET /api/v1/templates': json(200, { templates: [] }),
  });
  render(
    <ColorModeProvider>
      <PluginThemeProvider>
        <TestTheme>
          <Palette />
          <MemoryRouter initialEntries={[route]}>
            <AppRoutes />
          </MemoryRouter>
        </TestTheme>
      </PluginThemeProvider>
    </ColorModeProvider>,
  );
  return stub;
}

const brandImage = () => document.querySelector('img') as HTMLImageElement;

describe('the theme plugin', () => {
  it('dresses the sign-in page, asked before anyone signs in: palette, name, logo and title', async () => {
    const { callsTo } = renderAt('/login', json(200, { theme: midnight }));
    expect(await screen.findByText('Midnight')).toBeInTheDocument();
    expect(screen.queryByText('StreamSpace')).not.toBeInTheDocument();
    expect(brandImage().getAttribute('src')).toBe(midnight.logo);
    expect(screen.getByTestId('palette')).toHaveTextContent('#7aa2f7 #bb9af7');
    await waitFor(() => expect(document.title).toBe('Sign in — Midnight'));
    expect(callsTo('GET', '/api/v1/plugins/theme')).toHaveLength(1);
  });

  it('names the app bar and the title of every signed-in page', async () => {
    renderAt('/dashboard', json(200, { theme: midnight }), true);
    expect(await screen.findByRole('link', { name: 'Midnight home' })).toBeInTheDocument();
    await waitFor(() => expect(document.title).toBe('Midnight'));
  });

  it('keeps the default theme when none is enabled, or when the question fails', async () => {
    for (const answer of [json(200, { theme: null }), apiError(500, 'internal', 'down')]) {
      renderAt('/login', answer);
      await waitFor(() => expect(document.title).toBe('Sign in — StreamSpace'));
      expect(await screen.findByText('StreamSpace')).toBeInTheDocument();
      expect(brandImage().getAttribute('src')).toBe('/favicon.svg');
      expect(screen.getByTestId('palette')).toHaveTextContent('#3451d1 #00897b');
      document.body.innerHTML = '';
    }
  });

  it('falls back to the default mark when the portal refuses the logo', async () => {
    renderAt('/login', json(200, { theme: midnight }));
    await screen.findByText('Midnight');
    fireEvent.error(brandImage());
    await waitFor(() => expect(brandImage().getAttribute('src')).toBe('/favicon.svg'));
  });

  it('shows a hostile name as text and takes no logo from elsewhere', async () => {
    const evil = { ...midnight, displayName: '<img src=x onerror=alert(1)>', logo: 'https://evil.example.com/logo.svg' };
    renderAt('/login', json(200, { theme: evil }));
    expect(await screen.findByText('<img src=x onerror=alert(1)>')).toBeInTheDocument();
    expect(document.querySelectorAll('img')).toHaveLength(1);
    expect(brandImage().getAttribute('src')).toBe('/favicon.svg');
  });
});

describe('productOf', () => {
  it('accepts only the portal’s own logo path, and bounds the name', () => {
    expect(productOf(null)).toEqual({ name: 'StreamSpace', logo: '/favicon.svg' });
    expect(productOf({ ...midnight, logo: 'javascript:alert(1)' }).logo).toBe('/favicon.svg');
    expect(productOf({ ...midnight, logo: '/api/v1/plugins/theme/logo.evil' }).logo).toBe('/favicon.svg');
    expect(productOf({ ...midnight, logo: undefined }).logo).toBe('/favicon.svg');
    expect(productOf({ ...midnight, displayName: '   ' }).name).toBe('StreamSpace');
    expect(productOf({ ...midnight, displayName: 'x'.repeat(500) }).name).toHaveLength(60);
  });
});
