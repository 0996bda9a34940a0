import Chip from '@mui/material/Chip';
import Typography from '@mui/material/Typography';
import { alpha } from '@mui/material/styles';
import type { Drift } from '../../../api/models';
import { DataTable, timeColumn, type Column } from '../../../components/DataTable';
import { inventoryName } from './inventoryName';

/** Objects edited in the cluster away from what Git says. */
export function DriftTable({ drift, now }: { drift: Drift[]; now: number }) {
  const columns: Column<Drift>[] = [
    { key: 'object', header: 'Object', cellSx: { fontFamily: 'monospace' }, cell: (d) => inventoryName(d.id) },
    {
      key: 'fields',
      header: 'Fields changed',
      cellSx: { fontFamily: 'monospace', fontSize: 12 },
      cell: (d) => (d.fields ?? []).join(', ') || '—',
    },
    { key: 'manager', header: 'Changed by', cell: (d) => d.manager || '—' },
    timeColumn('detected', 'Detected', (d) => d.detectedAt, now),
    {
      key: 'state',
      header: 'State',
      cell: (d) => (
        <Chip size="small" label={d.corrected ? 'corrected' : 'drifted'} color={d.corrected ? 'success' : 'warning'} variant="outlined" />
      ),
    },
  ];
  return (
    <>
      <Typography variant="h3" component="h3" sx={{ mt: 1, mb: 1 }}>
        Drift
      </Typography>
      <DataTable
        label="Drift"
        containerSx={{ mb: 2 }}
        columns={columns}
        rows={drift}
        rowKey={(d) => d.id}
        rowProps={(d) => ({
          'data-testid': `drift-${d.id}`,
          sx: d.corrected ? undefined : { bgcolor: (t) => alpha(t.palette.warning.main, 0.12) },
        })}
      />
    </>
  );
}
