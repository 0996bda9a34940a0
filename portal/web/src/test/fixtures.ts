import type { Session, Template } from '../api/models';

const t0 = '2026-11-29T10:00:00Z';

export function session(overrides: Partial<Session> = {}): Session {
  return {
    name: 'alice-firefox-1a2b3',
    user: 'alice',
    template: 'firefox',
    state: 'running',
    phase: 'Running',
    createdAt: t0,
    ...overrides,
  };
}

export function template(overrides: Partial<Template> = {}): Template {
  return {
    name: 'firefox',
    displayName: 'Firefox',
    description: 'The web browser',
    category: 'Web Browsers',
    tags: ['browser', 'web'],
    stream: { protocol: 'WebsockifyVNC', port: 6080 },
    resources: { memory: '2Gi', cpu: '1' },
    dataPolicy: {},
    ...overrides,
  };
}

export const catalog: Template[] = [
  template(),
  template({ name: 'chromium', displayName: 'Chromium', description: 'Open-source browser', tags: ['browser'] }),
  template({ name: 'vscode', displayName: 'VS Code', description: 'Code editor', category: 'Development', tags: ['editor', 'code'] }),
  template({ name: 'gimp', displayName: 'GIMP', description: 'Image editor', category: 'Graphics', tags: ['editor', 'images'] }),
];
