import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { DataTable, type Column, type DataTableProps } from './DataTable';

interface Fruit {
  name: string;
  colour: string;
}

const fruits: Fruit[] = [
  { name: 'apple', colour: 'red' },
  { name: 'banana', colour: 'yellow' },
  { name: 'cherry', colour: 'red' },
];

const columns: Column<Fruit>[] = [
  { key: 'name', header: 'Fruit', cell: (f) => f.name, cellTitle: (f) => `the ${f.name}` },
  { key: 'colour', header: 'Colour', headerTitle: 'Skin colour', align: 'right', cell: (f) => f.colour },
];

const bodyRows = () =>
  within(screen.getByRole('table', { name: 'Fruits' }))
    .getAllByRole('row')
    .slice(1);

function renderFruits(more: Partial<DataTableProps<Fruit>> = {}) {
  return render(<DataTable label="Fruits" columns={columns} rows={fruits} rowKey={(f) => f.name} {...more} />);
}

describe('DataTable', () => {
  it('shows a header and one row per item, cells as the columns say', () => {
    renderFruits({ rowProps: (f) => ({ 'data-testid': `fruit-${f.name}` }) });
    expect(screen.getByRole('columnheader', { name: 'Colour' })).toHaveAttribute('title', 'Skin colour');
    expect(bodyRows().map((r) => r.textContent)).toEqual(['applered', 'bananayellow', 'cherryred']);
    expect(within(screen.getByTestId('fruit-banana')).getByRole('cell', { name: 'banana' })).toHaveAttribute('title', 'the banana');
    expect(screen.queryByRole('searchbox')).not.toBeInTheDocument();
  });

  it('narrows the rows to what matches the filter as it is typed', async () => {
    renderFruits({
      filter: { label: 'Filter fruits', placeholder: 'Name or colour', matches: (f, q) => `${f.name} ${f.colour}`.includes(q.trim()) },
    });
    const search = screen.getByRole('searchbox', { name: 'Filter fruits' });
    await userEvent.type(search, 'red');
    expect(bodyRows().map((r) => r.firstChild?.textContent)).toEqual(['apple', 'cherry']);
    await userEvent.clear(search);
    expect(bodyRows()).toHaveLength(3);
  });
});
