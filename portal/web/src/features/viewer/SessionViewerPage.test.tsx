import { act, configure, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Session } from '../../api/models';
import { apiError, json, stubFetch } from '../../test/fetchStub';
import { session, template } from '../../test/fixtures';
import { renderPage } from '../../test/render';
import SessionViewerPage from './SessionViewerPage';

// Each connection asks the portal for its stream URL first: on a busy
// machine a step takes more than testing-library's default second.
configure({ asyncUtilTimeout: 5000 });

// noVNC stands in as a fake RFB that the test drives.
const rfb = vi.hoisted(() => ({ instances: [] as FakeRFB[] }));
interface FakeRFB extends EventTarget {
  url: string;
  pasted: string[];
  emit(type: string, detail?: unknown): void;
}
vi.mock('@novnc/novnc', () => ({
  default: class extends EventTarget {
    url: string;
    pasted: string[] = [];
    scaleViewport = false;
    resizeSession = false;
    background = '';
    constructor(target: HTMLElement, socket: WebSocket) {
      super();
      this.url = socket.url;
      const canvas = document.createElement('canvas');
      target.appendChild(canvas);
      rfb.instances.push(this as unknown as FakeRFB);
    }
    emit(type: string, detail: unknown = {}) {
      this.dispatchEvent(new CustomEvent(type, { detail }));
    }
    focus() {}
    disconnect() {}
    clipboardPasteFrom(text: string) {
      this.pasted.push(text);
    }
    sendCtrlAltDel() {}
  },
}));

class FakeWebSocket extends EventTarget {
  static last: FakeWebSocket;
  url: string;
  constructor(url: string) {
    super();
    this.url = url;
    FakeWebSocket.last = this;
  }
  close() {}
}

const id = 'alice-firefox-1a2b3';
const base = `/api/v1/sessions/${id}`;
const hibernated = session({ state: 'hibernated', phase: 'Hibernated' });
const waking = (step: 'requested' | 'scheduled' | 'image-ready'): Session =>
  session({ state: 'running', phase: 'Pending', start: { kind: 'Wake', step, requestedAt: new Date().toISOString() } });

/** The portal's answers, on a portal without an apps domain unless routes say otherwise. */
function stubViewer(routes: Parameters<typeof stubFetch>[0]) {
  return stubFetch({
    [`POST ${base}/apps-ticket`]: apiError(
      404,
      'not_found',
      'no apps domain is configured (--apps-domain): web clients are served under /api/v1/sessions/{id}/web/',
    ),
    ...routes,
  });
}

/** A ticket to the session's apps host, as the portal answers it. */
function ticket(n: number) {
  const origin = `http://${id}.localhost:8443`;
  const q = `?ticket=t${n}`;
  return json(201, {
    url: `${origin}/_streamspace/auth${q}`,
    connect: `ws://${id}.localhost:8443/_streamspace/connect${q}`,
    origin,
    expiresAt: '2026-12-07T16:00:00Z',
  });
}

function renderViewer() {
  return renderPage(<SessionViewerPage />, { route: `/session/${id}`, path: '/session/:id' });
}

describe('SessionViewerPage', () => {
  beforeEach(() => {
    rfb.instances = [];
    vi.stubGlobal('WebSocket', FakeWebSocket);
  });

  it('wakes a hibernated session, shows its steps, then connects noVNC to the stream', async () => {
    const { callsTo } = stubViewer({
      [`GET ${base}`]: [json(200, hibernated), json(200, session())],
      'GET /api/v1/templates': json(200, { templates: [template()] }),
      [`GET ${base}/connect`]: [
        json(202, waking('requested'), { 'Retry-After': '1' }),
        json(202, waking('image-ready'), { 'Retry-After': '1' }),
        new Response(null, { status: 204 }),
      ],
    });
    renderViewer();
    expect(await screen.findByRole('heading', { name: 'Waking Firefox' })).toBeInTheDocument();
    await vi.waitFor(() => expect(screen.getByTestId('start-progress')).toHaveAttribute('data-step', 'requested'));
    await vi.waitFor(() => expect(screen.getByTestId('start-progress')).toHaveAttribute('data-step', 'image-ready'), { timeout: 3000 });

    await vi.waitFor(() => expect(rfb.instances).toHaveLength(1), { timeout: 3000 });
    expect(screen.getByTestId('viewer')).toBeInTheDocument();
    expect(rfb.instances[0].url).toBe(`ws://localhost:3000${base}/connect`);
    expect(callsTo('GET', `${base}/connect`)).toHaveLength(3);

    act(() => rfb.instances[0].emit('connect'));
    expect(screen.getByTestId('connection-state')).toHaveAttribute('data-state', 'connected');
  });

  it('connects at once to a running session, and reconnects when the portal restarts (1001)', async () => {
    const { callsTo } = stubViewer({
      [`GET ${base}`]: json(200, session()),
      'GET /api/v1/templates': json(200, { templates: [template()] }),
    });
    renderViewer();
    await vi.waitFor(() => expect(rfb.instances).toHaveLength(1), { timeout: 3000 });
    expect(callsTo('GET', `${base}/connect`)).toHaveLength(0);
    act(() => rfb.instances[0].emit('connect'));

    act(() => {
      FakeWebSocket.last.dispatchEvent(Object.assign(new Event('close'), { code: 1001, reason: 'the portal is restarting' }));
      rfb.instances[0].emit('disconnect', { clean: false });
    });
    expect(await screen.findByRole('heading', { name: 'The portal is restarting' }, { timeout: 3000 })).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Reconnect now' }));
    await vi.waitFor(() => expect(rfb.instances).toHaveLength(2), { timeout: 3000 });
  });

  it('shows a session that hibernated while open, with a Wake button', async () => {
    stubViewer({
      // read on opening, once streaming, then after the stream dropped
      [`GET ${base}`]: [json(200, session()), json(200, session()), json(200, hibernated)],
      'GET /api/v1/templates': json(200, { templates: [template()] }),
    });
    renderViewer();
    await vi.waitFor(() => expect(rfb.instances).toHaveLength(1), { timeout: 3000 });
    act(() => rfb.instances[0].emit('disconnect', { clean: false }));
    expect(await screen.findByRole('heading', { name: 'Firefox is hibernating' }, { timeout: 3000 })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Wake' })).toBeInTheDocument();
  });

  it('says why a terminated session cannot be opened', async () => {
    stubViewer({
      [`GET ${base}`]: json(200, session({ state: 'terminated', phase: 'Terminated' })),
      'GET /api/v1/templates': json(200, { templates: [template()] }),
      [`GET ${base}/connect`]: apiError(409, 'not_running', `session ${id} was terminated; launch a new one`),
    });
    renderViewer();
    expect(await screen.findByText(`session ${id} was terminated; launch a new one`)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Launch a new session' })).toBeInTheDocument();
  });

  it("pastes into the session only when the template's policy allows it", async () => {
    stubViewer({
      [`GET ${base}`]: json(200, session()),
      'GET /api/v1/templates': json(200, { templates: [template({ dataPolicy: { clipboardIn: false } })] }),
    });
    renderViewer();
    await vi.waitFor(() => expect(rfb.instances).toHaveLength(1), { timeout: 3000 });
    act(() => rfb.instances[0].emit('connect'));
    await userEvent.click(screen.getByRole('button', { name: 'Clipboard' }));
    expect(await screen.findByText("This app's policy does not allow pasting from your device.")).toBeInTheDocument();
    expect(screen.queryByRole('textbox', { name: 'Text to send' })).not.toBeInTheDocument();
  });

  it("with an apps domain, noVNC streams from the session's apps host, with a fresh ticket for every connection", async () => {
    const { callsTo } = stubViewer({
      [`GET ${base}`]: json(200, session()),
      'GET /api/v1/templates': json(200, { templates: [template()] }),
      [`POST ${base}/apps-ticket`]: [ticket(1), ticket(2)],
    });
    renderViewer();
    await vi.waitFor(() => expect(rfb.instances).toHaveLength(1), { timeout: 3000 });
    expect(rfb.instances[0].url).toBe(`ws://${id}.localhost:8443/_streamspace/connect?ticket=t1`);
    act(() => rfb.instances[0].emit('connect'));
    act(() => rfb.instances[0].emit('disconnect', { clean: false }));
    await userEvent.click(await screen.findByRole('button', { name: 'Reconnect now' }, { timeout: 3000 }));
    await vi.waitFor(() => expect(rfb.instances).toHaveLength(2), { timeout: 3000 });
    expect(rfb.instances[1].url).toBe(`ws://${id}.localhost:8443/_streamspace/connect?ticket=t2`);
    expect(callsTo('POST', `${base}/apps-ticket`)).toHaveLength(2);
  });

  it("frames a NoVNC template's own web client from the apps host, once /connect says it streams", async () => {
    const { callsTo } = stubViewer({
      [`GET ${base}`]: [json(200, hibernated), json(200, session())],
      'GET /api/v1/templates': json(200, { templates: [template({ stream: { protocol: 'NoVNC', port: 6080 } })] }),
      [`GET ${base}/connect`]: [json(202, waking('requested'), { 'Retry-After': '1' }), new Response(null, { status: 204 })],
      [`POST ${base}/apps-ticket`]: ticket(1),
    });
    renderViewer();
    const frame = await screen.findByTitle('Firefox session', {}, { timeout: 3000 });
    expect(frame).toHaveAttribute('src', `http://${id}.localhost:8443/_streamspace/auth?ticket=t1`);
    expect(callsTo('GET', `${base}/connect`)).toHaveLength(2);
    expect(callsTo('GET', `${base}/web/`)).toHaveLength(0);
    expect(rfb.instances).toHaveLength(0);
  });

  it('asks "Still there?" near the idle deadline, and the answer moves the pointer in the session', async () => {
    stubViewer({
      [`GET ${base}`]: json(200, session({ idleDeadline: new Date(Date.now() + 90_000).toISOString() })),
      'GET /api/v1/templates': json(200, { templates: [template()] }),
    });
    renderViewer();
    await vi.waitFor(() => expect(rfb.instances).toHaveLength(1), { timeout: 3000 });
    const moves = vi.fn();
    screen.getByTestId('viewer').querySelector('canvas')!.addEventListener('mousemove', moves);
    act(() => rfb.instances[0].emit('connect'));
    const dialog = await screen.findByRole('dialog', { name: 'Still there?' });
    expect(dialog).toHaveTextContent(/hibernates in 1m/);
    await userEvent.click(screen.getByRole('button', { name: "I'm still here" }));
    expect(moves).toHaveBeenCalledTimes(1);
  });
});
