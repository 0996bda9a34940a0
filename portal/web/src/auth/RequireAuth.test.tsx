import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { apiError, json, stubFetch } from '../test/fetchStub';
import { aliceMe } from '../test/render';
import { TestTheme } from '../test/TestTheme';
import { ColorModeProvider } from '../theme/ColorModeProvider';
import { RequireAuth } from './RequireAuth';

const oneTime = { ...aliceMe, username: 'admin', role: 'admin', mustChangePassword: true };
const chosen = { ...oneTime, mustChangePassword: false };

function renderApp() {
  render(
    <ColorModeProvider>
      <TestTheme>
        <RequireAuth>
          <div>the dashboard</div>
        </RequireAuth>
      </TestTheme>
    </ColorModeProvider>,
  );
}

async function change(current: string, next: string) {
  const user = userEvent.setup({ delay: null });
  await user.type(await screen.findByLabelText(/One-time password/), current);
  await user.type(screen.getByLabelText(/New password/), next);
  await user.click(screen.getByRole('button', { name: 'Change password' }));
}

describe('RequireAuth with a one-time password', () => {
  it('shows only the change-password form, then the app once it is changed', async () => {
    const { callsTo } = stubFetch({
      'GET /api/v1/users/me': [json(200, oneTime), json(200, chosen)],
      'POST /api/v1/users/me/password': json(200, {}),
    });
    renderApp();
    expect(await screen.findByRole('heading', { name: 'Choose your password' })).toBeInTheDocument();
    expect(screen.queryByText('the dashboard')).not.toBeInTheDocument();

    await change('the-one-time-one', 'a-chosen-password');
    expect(await screen.findByText('the dashboard')).toBeInTheDocument();
    expect(callsTo('POST', '/api/v1/users/me/password')[0].body).toEqual({
      currentPassword: 'the-one-time-one',
      newPassword: 'a-chosen-password',
    });
  });

  it('says what is wrong and stays on the form', async () => {
    stubFetch({
      'GET /api/v1/users/me': json(200, oneTime),
      'POST /api/v1/users/me/password': apiError(400, 'invalid_request', 'the current password is wrong', { currentPassword: 'wrong' }),
    });
    renderApp();
    await change('not-it', 'a-chosen-password');
    expect(await screen.findByRole('alert')).toHaveTextContent('the current password is wrong');
    expect(screen.getByLabelText(/One-time password/)).toHaveAttribute('aria-invalid', 'true');
    expect(screen.queryByText('the dashboard')).not.toBeInTheDocument();
  });

  it('renders the app for an account whose password was chosen', async () => {
    stubFetch({ 'GET /api/v1/users/me': json(200, chosen) });
    renderApp();
    expect(await screen.findByText('the dashboard')).toBeInTheDocument();
  });
});
