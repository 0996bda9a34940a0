import Box from '@mui/material/Box';
import FormControlLabel from '@mui/material/FormControlLabel';
import Switch from '@mui/material/Switch';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { alpha } from '@mui/material/styles';
import { useState } from 'react';
import type { Drift, InventoryEntry } from '../../../api/models';

/** Everything a GitSync applied, drifted objects highlighted. */
export function InventoryTable({ inventory, drift }: { inventory: InventoryEntry[]; drift: Drift[] }) {
  const drifted = new Set(drift.filter((d) => !d.corrected).map((d) => d.id));
  const [onlyDrifted, setOnlyDrifted] = useState(false);
  const rows = [...inventory]
    .filter((e) => !onlyDrifted || drifted.has(e.id))
    .sort((a, b) => Number(drifted.has(b.id)) - Number(drifted.has(a.id)) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
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
      <TableContainer sx={{ maxHeight: 420 }}>
        <Table size="small" stickyHeader aria-label="Inventory">
          <TableHead>
            <TableRow>
              <TableCell>Kind</TableCell>
              <TableCell>Name</TableCell>
              <TableCell>State</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {rows.map((e) => {
              const isDrifted = drifted.has(e.id);
              return (
                <TableRow
                  key={e.id}
                  data-testid={`inventory-${e.id}`}
                  data-drifted={isDrifted || undefined}
                  sx={isDrifted ? { bgcolor: (t) => alpha(t.palette.warning.main, 0.12) } : undefined}
                >
                  <TableCell>{e.kind || '—'}</TableCell>
                  <TableCell sx={{ fontFamily: 'monospace' }}>{e.name || e.id}</TableCell>
                  <TableCell>
                    {isDrifted ? (
                      <Typography component="span" variant="body2" color="warning" sx={{ fontWeight: 600 }}>
                        Drifted from Git
                      </Typography>
                    ) : (
                      <Typography component="span" variant="body2" color="textSecondary">
                        In sync
                      </Typography>
                    )}
                  </TableCell>
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      </TableContainer>
    </>
  );
}
