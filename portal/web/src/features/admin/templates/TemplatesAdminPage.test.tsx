import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { apiError, json, stubFetch } from '../../../test/fetchStub';
import { renderPage } from '../../../test/render';
import { template } from '../../../test/fixtures';
import TemplatesAdminPage from './TemplatesAdminPage';

/** Types by pasting: typing letter by letter is slow on a busy machine. */
async function fill(el: HTMLElement, text: string) {
  await userEvent.click(el);
  await userEvent.paste(text);
}

const firefox = template({ name: 'firefox', displayName: 'Firefox' });

const pr = (n: number, file: string) => ({
  mode: 'pull-request',
  branch: 'b',
  commit: 'c',
  url: `https://github.example.com/acme/platform/pull/${n}`,
  number: n,
  file,
  changes: [],
});

describe('TemplatesAdminPage', () => {
  it('proposes a new template from an image with a new category, and shows where its conventions came from', async () => {
    const { callsTo } = stubFetch({
      'GET /api/v1/templates': json(200, { templates: [firefox] }),
      'POST /api/v1/admin/templates': [
        apiError(
          400,
          'invalid_request',
          'image lscr.io/linuxserver/musescore:latest: the mutable :latest tag would change under running sessions',
          {
            image: 'the mutable :latest tag would change under running sessions',
          },
        ),
        json(202, {
          result: pr(8, 'catalog/audio-video/musescore.yaml'),
          template: {},
          notes: ['ports, stream, home mount … follow template vlc'],
        }),
      ],
    });
    renderPage(<TemplatesAdminPage />, { route: '/admin/templates' });
    await userEvent.click(await screen.findByRole('button', { name: 'New template' }));
    const dialog = screen.getByRole('dialog', { name: 'New template' });
    await fill(within(dialog).getByLabelText(/Image/), 'lscr.io/linuxserver/musescore:latest');
    await fill(within(dialog).getByLabelText(/Category/), 'Audio & Video');
    expect(within(dialog).getByText(/A new category/)).toBeInTheDocument();
    await fill(within(dialog).getByLabelText(/Reason/), 'MuseScore for the music course');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Propose template' }));
    expect((await within(dialog).findAllByText(/mutable :latest tag/)).length).toBeGreaterThan(0);
    expect(within(dialog).getByLabelText(/Image/)).toHaveAttribute('aria-invalid', 'true');

    await userEvent.clear(within(dialog).getByLabelText(/Image/));
    await fill(within(dialog).getByLabelText(/Image/), 'lscr.io/linuxserver/musescore:4.5.2-ls3');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Propose template' }));
    expect(await within(dialog).findByText('Pull request #8 opened')).toBeInTheDocument();
    expect(within(dialog).getByText(/follow template vlc/)).toBeInTheDocument();
    expect(callsTo('POST', '/api/v1/admin/templates')[1].body).toEqual({
      image: 'lscr.io/linuxserver/musescore:4.5.2-ls3',
      category: 'Audio & Video',
      reason: 'MuseScore for the music course',
    });
  }, 60_000);

  it('proposes deleting a template with the reason in the query, and names who still uses it', async () => {
    const { calls } = stubFetch({
      'GET /api/v1/templates': json(200, { templates: [firefox] }),
      [`DELETE /api/v1/admin/templates/${firefox.name}`]: json(202, {
        result: pr(9, 'catalog/browsers/firefox.yaml'),
        usedBy: ['alice/firefox-1 (Running)'],
      }),
    });
    renderPage(<TemplatesAdminPage />, { route: '/admin/templates' });
    await userEvent.click(await screen.findByRole('button', { name: `Delete ${firefox.displayName}` }));
    const dialog = screen.getByRole('dialog', { name: `Delete ${firefox.displayName}` });
    await fill(within(dialog).getByLabelText(/Reason/), 'Replaced by the managed browser');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Propose deletion' }));
    expect(await within(dialog).findByText('Pull request #9 opened')).toBeInTheDocument();
    expect(within(dialog).getByText(/Still used by alice\/firefox-1 \(Running\)/)).toBeInTheDocument();
    const del = calls.find((c) => c.method === 'DELETE')!;
    expect(new URLSearchParams(del.search).get('reason')).toBe('Replaced by the managed browser');
  }, 60_000);
});
