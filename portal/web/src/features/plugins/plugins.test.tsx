import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { RJSFSchema } from '@rjsf/utils';
import { describe, expect, it } from 'vitest';
import type { CatalogPlugin, InstalledPlugin, PluginCatalog } from '../../api/models';
import { apiError, json, stubFetch } from '../../test/fetchStub';
import { aliceMe, renderPage } from '../../test/render';
import { createAppTheme, isDark } from '../../theme/theme';
import InstalledPluginsPage from './InstalledPluginsPage';
import PluginCatalogPage, { matchesPlugin } from './PluginCatalogPage';
import { check } from './schemaValidator';

const rootMe = { ...aliceMe, username: 'root', role: 'admin' as const };

const schema = {
  type: 'object',
  required: ['endpoint'],
  properties: {
    endpoint: { type: 'string', title: 'Endpoint', pattern: '^https://' },
    batch: { type: 'integer', title: 'Batch', minimum: 1, maximum: 100 },
  },
};

function entry(o: Partial<CatalogPlugin> = {}): CatalogPlugin {
  return {
    repository: 'streamspace-plugins',
    name: 'audit-exporter',
    version: '1.0.0',
    revision: 'main@sha1:0123',
    displayName: 'Audit exporter',
    description: 'Sends platform events to a SIEM',
    type: 'webhook',
    category: 'Compliance',
    events: ['session.created'],
    permissions: [{ name: 'events:session.*', risk: 'low' }],
    exceedsTrust: false,
    configSchema: schema,
    installed: [],
    ...o,
  };
}

const catalog: PluginCatalog = {
  repositories: [{ name: 'streamspace-plugins', url: 'https://git.example.com/p.git', ready: 'True', plugins: 3, broken: [] }],
  plugins: [
    entry(),
    entry({
      name: 'midnight-theme',
      displayName: 'Midnight',
      type: 'ui-theme',
      category: 'Look',
      description: 'A dark theme',
      permissions: [],
      configSchema: undefined,
    }),
    entry({
      name: 'night-watch',
      displayName: 'Night watch',
      type: 'extension',
      category: 'Policy',
      description: 'Hibernates sessions at night',
      exceedsTrust: true,
      permissions: [{ name: 'sessions:hibernate', risk: 'high', beyondTrust: true }],
      configSchema: undefined,
    }),
  ],
};

function installed(o: Partial<InstalledPlugin> = {}): InstalledPlugin {
  return {
    name: 'audit-exporter',
    repository: 'streamspace-plugins',
    pluginName: 'audit-exporter',
    version: '1.0.0',
    displayName: 'Audit exporter',
    type: 'webhook',
    enabled: false,
    approvedPermissions: [],
    permissions: [{ name: 'events:session.*', risk: 'low', approved: false }],
    config: { endpoint: 'https://siem.example.com/in' },
    configSchema: schema,
    ready: 'False',
    reason: 'PermissionsPending',
    message: 'not approved: events:session.*',
    conditions: [],
    proposals: [],
    ...o,
  };
}

const pr = {
  mode: 'pull-request',
  branch: 'streamspace/plugin-x',
  commit: 'abc',
  url: 'https://github.example.com/acme/platform/pull/7',
  number: 7,
  file: 'policies/plugins/x.yaml',
  changes: [],
};

const cards = () => screen.queryAllByTestId(/^plugin-card-/).map((c) => c.getAttribute('data-testid')!.slice('plugin-card-'.length));

describe('plugin catalog', () => {
  it('matches every word in name, description, category and type', () => {
    expect(matchesPlugin(catalog.plugins[0], 'SIEM webhook')).toBe(true);
    expect(matchesPlugin(catalog.plugins[0], 'siem theme')).toBe(false);
  });

  it('filters by search and type, each type in its colour, and shows permissions with their risk', async () => {
    stubFetch({ 'GET /api/v1/plugins/catalog': json(200, catalog) });
    const user = userEvent.setup({ delay: null });
    renderPage(<PluginCatalogPage />, { route: '/plugins/catalog' });
    await screen.findByTestId('plugin-card-audit-exporter');
    expect(cards()).toEqual(['audit-exporter', 'midnight-theme', 'night-watch']);
    const types = screen.getAllByTestId('plugin-type');
    expect(types.map((t) => t.textContent)).toEqual(['Webhook', 'UI theme', 'Extension']);
    expect(types[0].className).toContain('Info');
    expect(types[1].className).toContain('Success');

    await user.type(screen.getByRole('searchbox', { name: 'Search plugins' }), 'hibernates');
    expect(cards()).toEqual(['night-watch']);
    await user.clear(screen.getByRole('searchbox', { name: 'Search plugins' }));
    await user.click(screen.getByLabelText('Type'));
    await user.click(await screen.findByRole('option', { name: 'UI theme' }));
    expect(cards()).toEqual(['midnight-theme']);

    await user.click(screen.getByRole('button', { name: 'Midnight: details' }));
    expect(within(screen.getByTestId('plugin-detail')).getByText('No permissions asked.')).toBeInTheDocument();
  });

  it('warns of a plugin beyond its repository’s trust; a user gets no install button', async () => {
    stubFetch({ 'GET /api/v1/plugins/catalog': json(200, catalog) });
    const user = userEvent.setup({ delay: null });
    renderPage(<PluginCatalogPage />, { route: '/plugins/catalog' });
    await user.click(await screen.findByRole('button', { name: 'Night watch: details' }));
    const detail = screen.getByTestId('plugin-detail');
    expect(within(detail).getByText(/never enabled/)).toBeInTheDocument();
    expect(within(detail).getByTestId('permission-sessions:hibernate')).toHaveTextContent('high risk');
    expect(within(detail).getByText('beyond trust')).toBeInTheDocument();
    expect(within(detail).queryByRole('button', { name: 'Install…' })).toBeNull();
  });

  it('an admin installs through the form the schema generates; the schema’s refusal is shown, then the pull request', async () => {
    const fetch = stubFetch({
      'GET /api/v1/plugins/catalog': json(200, catalog),
      'POST /api/v1/plugins/install': [
        apiError(422, 'invalid_request', "config: at '/endpoint': does not match pattern", {
          config: "at '/endpoint': does not match pattern",
        }),
        json(202, pr),
      ],
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<PluginCatalogPage />, { route: '/plugins/catalog', me: rootMe });
    await user.click(await screen.findByRole('button', { name: 'Audit exporter: details' }));
    await user.click(screen.getByRole('button', { name: 'Install…' }));
    const form = screen.getByTestId('install-form');
    // the form's own check points at the field before anything is sent
    await user.click(within(form).getByRole('button', { name: 'Propose install' }));
    expect(await within(form).findByText('is required')).toBeInTheDocument();
    expect(fetch.callsTo('POST', '/api/v1/plugins/install')).toHaveLength(0);

    await user.type(within(form).getByLabelText(/Endpoint/), 'https://siem.example.com/x');
    await user.click(within(form).getByRole('checkbox', { name: /events:session/ }));
    await user.click(within(form).getByRole('button', { name: 'Propose install' }));
    expect(await screen.findByTestId('change-error')).toHaveTextContent('does not match pattern');
    await user.click(within(form).getByRole('button', { name: 'Propose install' }));
    expect(await screen.findByTestId('change-result')).toHaveTextContent('Pull request #7 opened');
    expect(fetch.callsTo('POST', '/api/v1/plugins/install')[1].body).toEqual({
      repository: 'streamspace-plugins',
      plugin: 'audit-exporter',
      version: '1.0.0',
      name: 'audit-exporter',
      enabled: false,
      approvedPermissions: ['events:session.*'],
      config: { endpoint: 'https://siem.example.com/x' },
    });
  });
});

describe('installed plugins', () => {
  it('shows state, permissions and deliveries; a user gets no buttons', async () => {
    stubFetch({
      'GET /api/v1/plugins/installed': json(200, {
        plugins: [
          installed({ ready: 'True', reason: undefined, enabled: true, delivery: { delivered: 12, failed: 1, pending: 0, attempts: 0 } }),
        ],
      }),
    });
    renderPage(<InstalledPluginsPage />, { route: '/plugins/installed' });
    const card = await screen.findByTestId('installed-audit-exporter');
    expect(within(card).getByTestId('plugin-ready')).toHaveTextContent('Ready');
    expect(within(card).getByTestId('plugin-delivery')).toHaveTextContent('12 delivered · 1 failed · 0 pending');
    expect(within(card).queryByRole('button')).toBeNull();
  });

  it('an admin configures through the generated form, enables, and sees the pull requests', async () => {
    const fetch = stubFetch({
      'GET /api/v1/plugins/installed': json(200, { plugins: [installed()] }),
      'PUT /api/v1/plugins/audit-exporter/config': json(202, pr),
      'POST /api/v1/plugins/audit-exporter/enable': json(200, {
        unchanged: true,
        message: 'Plugin audit-exporter already is as asked in Git',
      }),
    });
    const user = userEvent.setup({ delay: null });
    renderPage(<InstalledPluginsPage />, { route: '/plugins/installed', me: rootMe });
    const card = await screen.findByTestId('installed-audit-exporter');
    expect(within(card).getByTestId('plugin-ready')).toHaveTextContent('PermissionsPending');
    expect(within(card).getByText('not approved: events:session.*')).toBeInTheDocument();

    await user.click(within(card).getByRole('button', { name: 'Configure' }));
    const dialog = screen.getByTestId('configure-dialog');
    expect(within(dialog).getByLabelText(/Endpoint/)).toHaveValue('https://siem.example.com/in');
    await user.type(within(dialog).getByLabelText(/Batch/), '500');
    await user.click(within(dialog).getByRole('button', { name: 'Propose configuration' }));
    expect(await within(dialog).findByText('must be <= 100')).toBeInTheDocument();
    await user.clear(within(dialog).getByLabelText(/Batch/));
    await user.type(within(dialog).getByLabelText(/Batch/), '50');
    await user.click(within(dialog).getByRole('button', { name: 'Propose configuration' }));
    expect(await screen.findByTestId('change-result')).toHaveTextContent('pull/7');
    expect(fetch.callsTo('PUT', '/api/v1/plugins/audit-exporter/config')[0].body).toEqual({
      config: { endpoint: 'https://siem.example.com/in', batch: 50 },
    });

    await user.click(within(card).getByRole('button', { name: 'Enable' }));
    await waitFor(() => expect(screen.getByTestId('change-result')).toHaveTextContent('Nothing to change'));
  });
});

describe('the form’s schema check', () => {
  it('finds what the common keywords refuse, with the field’s path', () => {
    expect(check(schema as RJSFSchema, { endpoint: 'http://x', batch: 0, extra: 1 })).toEqual([
      { path: '/endpoint', message: 'must match ^https://' },
      { path: '/batch', message: 'must be >= 1' },
    ]);
    expect(check({ ...schema, additionalProperties: false } as RJSFSchema, { endpoint: 'https://x', extra: 1 })).toEqual([
      { path: '/extra', message: 'is not a known setting' },
    ]);
    expect(check(schema as RJSFSchema, {})).toEqual([{ path: '/endpoint', message: 'is required' }]);
    expect(check(schema as RJSFSchema, { endpoint: 3 })).toEqual([{ path: '/endpoint', message: 'must be string' }]);
  });
});

describe('theme plugin', () => {
  it('takes the plugin’s accents in both modes and its page colours only in its own', () => {
    const palette = { primary: '#112233', background: '#000000', surface: '#101010', text: '#eeeeee' };
    expect(isDark('#000000')).toBe(true);
    const dark = createAppTheme('dark', palette);
    expect(dark.palette.primary.main).toBe('#112233');
    expect(dark.palette.background.default).toBe('#000000');
    expect(dark.palette.background.paper).toBe('#101010');
    expect(dark.palette.text.primary).toBe('#eeeeee');
    const light = createAppTheme('light', palette);
    expect(light.palette.primary.main).toBe('#112233');
    expect(light.palette.background.default).toBe('#f5f6f8');
    expect(createAppTheme('light').palette.primary.main).toBe('#3451d1');
  });
});
