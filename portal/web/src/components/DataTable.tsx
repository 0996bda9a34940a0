import Paper from '@mui/material/Paper';
import type { SxProps, Theme } from '@mui/material/styles';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import { useState, type ReactNode } from 'react';
import { formatDateTime, formatRelative } from '../lib/time';
import { VisuallyHidden } from './VisuallyHidden';

export interface Column<T> {
  key: string;
  header: ReactNode;
  /** The header's tooltip, for a header shorter than its meaning. */
  headerTitle?: string;
  align?: 'right';
  cell: (row: T) => ReactNode;
  /** The cell's tooltip, e.g. the exact time behind "5m ago". */
  cellTitle?: (row: T) => string;
  cellSx?: SxProps<Theme>;
}

/** The column of a row's buttons, its header for screen readers only. */
export function actionsColumn<T>(cell: (row: T) => ReactNode, cellSx?: SxProps<Theme>): Column<T> {
  return { key: 'actions', header: <VisuallyHidden>Actions</VisuallyHidden>, align: 'right', cell, cellSx };
}

/** A moment relative to now ("5m ago"), the exact time as its tooltip; missing: what an absent one says. */
export function timeColumn<T>(key: string, header: string, at: (row: T) => string | undefined, now: number, missing?: string): Column<T> {
  return { key, header, cellTitle: (row) => formatDateTime(at(row)), cell: (row) => formatRelative(at(row), now, missing) };
}

export interface TableFilter<T> {
  /** The search field's accessible name, e.g. "Filter users". */
  label: string;
  placeholder: string;
  /** Whether a row matches what was typed (as typed; empty matches everything). */
  matches: (row: T, query: string) => boolean;
}

export interface DataTableProps<T> {
  /** The table's accessible name. */
  label: string;
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  /** Per row: its test ID, a highlight, data attributes. */
  rowProps?: (row: T) => { 'data-testid'?: string; sx?: SxProps<Theme> } & Record<`data-${string}`, unknown>;
  /** Rows light up under the pointer (rows with actions). */
  hover?: boolean;
  stickyHeader?: boolean;
  containerSx?: SxProps<Theme>;
  /** Framed as a page's table, not one inside a card or a dialog. */
  outlined?: boolean;
  /** A search field above the table that narrows the rows. */
  filter?: TableFilter<T>;
}

/** The app's tables: a header row, one row per item, optionally framed and filtered by a search field. */
export function DataTable<T>({
  label,
  columns,
  rows,
  rowKey,
  rowProps,
  hover,
  stickyHeader,
  containerSx,
  outlined,
  filter,
}: DataTableProps<T>) {
  const [query, setQuery] = useState('');
  const shown = filter ? rows.filter((row) => filter.matches(row, query)) : rows;
  const table = (
    <TableContainer sx={containerSx}>
      <Table size="small" stickyHeader={stickyHeader} aria-label={label}>
        <TableHead>
          <TableRow>
            {columns.map((c) => (
              <TableCell key={c.key} align={c.align} title={c.headerTitle}>
                {c.header}
              </TableCell>
            ))}
          </TableRow>
        </TableHead>
        <TableBody>
          {shown.map((row) => (
            <TableRow key={rowKey(row)} hover={hover} {...rowProps?.(row)}>
              {columns.map((c) => (
                <TableCell key={c.key} align={c.align} title={c.cellTitle?.(row)} sx={c.cellSx}>
                  {c.cell(row)}
                </TableCell>
              ))}
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
  return (
    <>
      {filter && (
        <TextField
          type="search"
          size="small"
          placeholder={filter.placeholder}
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          slotProps={{ htmlInput: { 'aria-label': filter.label } }}
          sx={{ mb: 2, width: 320, maxWidth: '100%' }}
        />
      )}
      {outlined ? <Paper variant="outlined">{table}</Paper> : table}
    </>
  );
}
