import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { APIToken } from '../../api/models';
import { json, stubFetch } from '../../test/fetchStub';
import { renderPage } from '../../test/render';
import TokensPage from './TokensPage';

const ci: APIToken = { id: 't1', name: 'CI pipeline', user: 'alice', createdAt: '2026-11-01T10:00:00Z' };

describe('TokensPage', () => {
  it('creates a token, shows its value once, and lists it', async () => {
    const { callsTo } = stubFetch({
      'GET /api/v1/tokens': [json(200, { tokens: [] }), json(200, { tokens: [ci] })],
      'POST /api/v1/tokens': json(201, { ...ci, token: 'ssp_secret' }),
    });
    renderPage(<TokensPage />, { route: '/settings/tokens' });
    expect(await screen.findByText('No API tokens')).toBeInTheDocument();

    await userEvent.click(screen.getAllByRole('button', { name: 'New token' })[0]);
    const form = screen.getByRole('dialog', { name: 'New API token' });
    await userEvent.type(within(form).getByLabelText(/Name/), 'CI pipeline');
    await userEvent.click(within(form).getByRole('button', { name: 'Create token' }));

    const shown = await screen.findByRole('dialog', { name: 'Token “CI pipeline” created' });
    expect(within(shown).getByTestId('new-token-value')).toHaveTextContent('ssp_secret');
    expect(callsTo('POST', '/api/v1/tokens')[0].body).toEqual({ name: 'CI pipeline', expiresInDays: 90 });
    expect(await screen.findByTestId('token-row-CI pipeline')).toBeInTheDocument();
  });

  it('revokes a token only once confirmed, then says so', async () => {
    const { callsTo } = stubFetch({
      'GET /api/v1/tokens': [json(200, { tokens: [ci] }), json(200, { tokens: [{ ...ci, revokedAt: '2026-11-29T12:00:00Z' }] })],
      'DELETE /api/v1/tokens/t1': new Response(null, { status: 204 }),
    });
    renderPage(<TokensPage />, { route: '/settings/tokens' });
    await userEvent.click(await screen.findByRole('button', { name: 'Revoke token CI pipeline' }));
    expect(callsTo('DELETE', '/api/v1/tokens/t1')).toHaveLength(0);

    const confirm = screen.getByRole('dialog', { name: 'Revoke “CI pipeline”?' });
    await userEvent.click(within(confirm).getByRole('button', { name: 'Revoke' }));
    expect(await screen.findByText('Token “CI pipeline” revoked')).toBeInTheDocument();
    expect(callsTo('DELETE', '/api/v1/tokens/t1')).toHaveLength(1);
    await vi.waitFor(() => expect(within(screen.getByTestId('token-row-CI pipeline')).getByText('revoked')).toBeInTheDocument());
    expect(screen.queryByRole('button', { name: 'Revoke token CI pipeline' })).not.toBeInTheDocument();
  });
});
