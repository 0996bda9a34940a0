import Box from '@mui/material/Box';
import FormControlLabel from '@mui/material/FormControlLabel';
import Switch from '@mui/material/Switch';
import Typography from '@mui/material/Typography';
import { alpha } from '@mui/material/styles';
import { useState } from 'react';
import type { Drift, InventoryEntry } from '../../../api/models';
import { DataTable, type Column } from '../../../components/DataTable';

/** Everything a GitSync applied, drifted objects highlighted. */
export function InventoryTable({ inventory, drift }: { inventory: InventoryEntry[]; drift: Drift[] }) {
  const drifted = new Set(drift.filter((d) => !d.corrected).map((d) => d.id));
  const [onlyDrifted, setOnlyDrifted] = useState(false);
  const rows = [...inventory]
    .filter((e) => !onlyDrifted || drifted.has(e.id))
    .sort((a, b) => Number(drifted.has(b.id)) - Number(drifted.has(a.id)) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  const columns: Column<InventoryEntry>[] = [
    { key: 'kind', header: 'Kind', cell: (e) => e.kind || '—' },
    { key: 'name', header: 'Name', cellSx: { fontFamily: 'monospace' }, cell: (e) => e.name || e.id },
    {
      key: 'state',
      header: 'State',
      cell: (e) =>
        drifted.has(e.id) ? (
          <Typography component="span" variant="body2" color="warning" sx={{ fontWeight: 600 }}>
            Drifted from Git
          </Typography>
        ) : (
          <Typography component="span" variant="body2" color="textSecondary">
            In sync
          </Typography>
        ),
    },
  ];
  return (
    <>
      <Box sx={{ display: 'flex', alignItems: 'center', justifyContent: 'space-between', mt: 1, mb: 1, gap: 2, flexWrap: 'wrap' }}>
        <Typography variant="h3" component="h3">
          Inventory
        </Typography>
        {drifted.size > 0 && (
          <FormControlLabel
            control={<Switch size="small" checked={onlyDrifted} onChange={(e) => setOnlyDrifted(e.target.checked)} />}
            label="Drifted only"
          />
        )}
      </Box>
      <DataTable
        label="Inventory"
        stickyHeader
        containerSx={{ maxHeight: 420 }}
        columns={columns}
        rows={rows}
        rowKey={(e) => e.id}
        rowProps={(e) => {
          const isDrifted = drifted.has(e.id);
          return {
            'data-testid': `inventory-${e.id}`,
            'data-drifted': isDrifted || undefined,
            sx: isDrifted ? { bgcolor: (t) => alpha(t.palette.warning.main, 0.12) } : undefined,
          };
        }}
      />
    </>
  );
}
