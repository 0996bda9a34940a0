import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/errors';
import type { Resource } from '../hooks/useResource';
import { ResourceView } from './ResourceView';

const resource = (r: Partial<Resource<string[]>>): Resource<string[]> => ({
  data: undefined,
  error: undefined,
  loading: false,
  reload: vi.fn(async () => {}),
  setData: () => {},
  ...r,
});

function view(r: Resource<string[]>, empty = true) {
  return render(
    <ResourceView
      resource={r}
      errorTitle="The things could not be loaded"
      loading={<p>loading…</p>}
      empty={empty ? <p>nothing yet</p> : undefined}
    >
      {(list) => (
        <ul>
          {list.map((x) => (
            <li key={x}>{x}</li>
          ))}
        </ul>
      )}
    </ResourceView>,
  );
}

describe('ResourceView', () => {
  it('shows the loading placeholder until the first answer', () => {
    view(resource({ loading: true }));
    expect(screen.getByText('loading…')).toBeInTheDocument();
    expect(screen.queryByRole('list')).not.toBeInTheDocument();
  });

  it('shows what failed, why, and a retry when there is nothing to show', async () => {
    const r = resource({ error: new ApiError(503, 'unavailable', 'the portal is restarting') });
    view(r);
    expect(screen.getByText('The things could not be loaded')).toBeInTheDocument();
    expect(screen.getByText('the portal is restarting')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(r.reload).toHaveBeenCalledTimes(1);
  });

  it('keeps the last data on screen when a later load fails', () => {
    view(resource({ data: ['a'], error: new Error('poll failed') }));
    expect(screen.getByRole('listitem')).toHaveTextContent('a');
    expect(screen.queryByText('poll failed')).not.toBeInTheDocument();
  });

  it('shows the empty state for an empty list, or the content when none is given', () => {
    const { unmount } = view(resource({ data: [] }));
    expect(screen.getByText('nothing yet')).toBeInTheDocument();
    unmount();
    view(resource({ data: [] }), false);
    expect(screen.getByRole('list')).toBeEmptyDOMElement();
  });

  it('shows the content once loaded', () => {
    view(resource({ data: ['a', 'b'] }));
    expect(screen.getAllByRole('listitem').map((li) => li.textContent)).toEqual(['a', 'b']);
  });
});
