import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { apiError, json, stubFetch } from '../../test/fetchStub';
import { catalog, session } from '../../test/fixtures';
import { renderPage } from '../../test/render';
import CatalogPage from './CatalogPage';
import { filterTemplates, groupByCategory, tagsByUse } from './filterTemplates';

const shownApps = () => screen.queryAllByRole('article').map((a) => a.getAttribute('aria-label'));
const categories = () => screen.queryAllByRole('heading', { level: 2 }).map((h) => h.textContent);

async function renderCatalog() {
  const fetch = stubFetch({ 'GET /api/v1/templates': json(200, { templates: catalog }) });
  renderPage(<CatalogPage />, { route: '/catalog' });
  await screen.findByRole('button', { name: 'Launch Firefox' });
  return fetch;
}

describe('catalog filtering', () => {
  it('groups templates by category, categories and apps in alphabetical order', () => {
    expect(groupByCategory(catalog).map((g) => [g.category, g.templates.map((t) => t.name)])).toEqual([
      ['Development', ['vscode']],
      ['Graphics', ['gimp']],
      ['Web Browsers', ['chromium', 'firefox']],
    ]);
  });

  it('matches every word of the search in name, description, category or tags', () => {
    const names = (query: string, tags: string[] = []) => filterTemplates(catalog, { query, tags }).map((t) => t.name);
    expect(names('browser')).toEqual(['firefox', 'chromium']);
    expect(names('EDITOR image')).toEqual(['gimp']);
    expect(names('development')).toEqual(['vscode']);
    expect(names('', ['editor'])).toEqual(['vscode', 'gimp']);
    expect(names('', ['editor', 'code'])).toEqual(['vscode']);
    expect(names('nothing-like-this')).toEqual([]);
  });

  it('offers the most used tags first', () => {
    expect(tagsByUse(catalog).slice(0, 2)).toEqual(['browser', 'editor']);
  });
});

describe('CatalogPage', () => {
  it('shows every app under its category', async () => {
    await renderCatalog();
    expect(categories()).toEqual(['Development (1)', 'Graphics (1)', 'Web Browsers (2)']);
    expect(shownApps()).toEqual(['VS Code', 'GIMP', 'Chromium', 'Firefox']);
  });

  it('narrows the apps with the search box and the tag chips', async () => {
    const user = userEvent.setup({ delay: null });
    await renderCatalog();
    await user.type(screen.getByRole('searchbox', { name: 'Search apps' }), 'editor');
    expect(shownApps()).toEqual(['VS Code', 'GIMP']);
    expect(categories()).toEqual(['Development (1)', 'Graphics (1)']);

    const tags = screen.getByRole('group', { name: 'Filter by tag' });
    await user.click(within(tags).getByRole('button', { name: 'images' }));
    expect(within(tags).getByRole('button', { name: 'images' })).toHaveAttribute('aria-pressed', 'true');
    expect(shownApps()).toEqual(['GIMP']);

    await user.clear(screen.getByRole('searchbox', { name: 'Search apps' }));
    await user.type(screen.getByRole('searchbox', { name: 'Search apps' }), 'firefox');
    expect(shownApps()).toEqual([]);
    expect(screen.getByText('No app matches')).toBeInTheDocument();

    await user.click(screen.getAllByRole('button', { name: 'Clear filters' })[0]);
    expect(shownApps()).toHaveLength(4);
  });

  it('launches a session and opens its viewer', async () => {
    const { callsTo } = stubFetch({
      'GET /api/v1/templates': json(200, { templates: catalog }),
      'POST /api/v1/sessions': json(201, session({ name: 'alice-gimp-9f8e7', template: 'gimp', phase: '' })),
    });
    renderPage(<CatalogPage />, { route: '/catalog' });
    await userEvent.click(await screen.findByRole('button', { name: 'Launch GIMP' }));
    expect(await screen.findByTestId('viewer-route')).toBeInTheDocument();
    expect(callsTo('POST', '/api/v1/sessions')[0].body).toEqual({ template: 'gimp' });
  });

  it('explains a quota refusal in plain words', async () => {
    stubFetch({
      'GET /api/v1/templates': json(200, { templates: catalog }),
      'POST /api/v1/sessions': apiError(403, 'quota_exceeded', 'quota "default" exceeded: maxRunningSessions: 3 running, limit 3', {
        limit: 'maxRunningSessions',
        used: '3 running',
        max: '3',
      }),
    });
    renderPage(<CatalogPage />, { route: '/catalog' });
    await userEvent.click(await screen.findByRole('button', { name: 'Launch Firefox' }));
    const alert = await screen.findByTestId('launch-error');
    expect(alert).toHaveTextContent('Quota reached');
    expect(alert).toHaveTextContent('3 of 3 running sessions — hibernate or terminate one to start another.');
    expect(within(alert).getByRole('link', { name: 'My sessions' })).toHaveAttribute('href', '/dashboard');
  });

  it('shows other launch failures with the portal message', async () => {
    stubFetch({
      'GET /api/v1/templates': json(200, { templates: catalog }),
      'POST /api/v1/sessions': apiError(400, 'invalid_request', 'template "firefox" does not exist'),
    });
    renderPage(<CatalogPage />, { route: '/catalog' });
    await userEvent.click(await screen.findByRole('button', { name: 'Launch Firefox' }));
    expect(await screen.findByTestId('launch-error')).toHaveTextContent('Firefox could not be launched');
    expect(screen.getByTestId('launch-error')).toHaveTextContent('template "firefox" does not exist');
  });
});
