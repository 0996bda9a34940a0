import Chip from '@mui/material/Chip';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Typography from '@mui/material/Typography';
import { alpha } from '@mui/material/styles';
import type { Drift } from '../../../api/models';
import { formatDateTime, formatRelative } from '../../../lib/time';
import { inventoryName } from './inventoryName';

/** Objects edited in the cluster away from what Git says. */
export function DriftTable({ drift, now }: { drift: Drift[]; now: number }) {
  return (
    <>
      <Typography variant="h3" component="h3" sx={{ mt: 1, mb: 1 }}>
        Drift
      </Typography>
      <TableContainer sx={{ mb: 2 }}>
        <Table size="small" aria-label="Drift">
          <TableHead>
            <TableRow>
              <TableCell>Object</TableCell>
              <TableCell>Fields changed</TableCell>
              <TableCell>Changed by</TableCell>
              <TableCell>Detected</TableCell>
              <TableCell>State</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {drift.map((d) => (
              <TableRow
                key={d.id}
                data-testid={`drift-${d.id}`}
                sx={d.corrected ? undefined : { bgcolor: (t) => alpha(t.palette.warning.main, 0.12) }}
              >
                <TableCell sx={{ fontFamily: 'monospace' }}>{inventoryName(d.id)}</TableCell>
                <TableCell sx={{ fontFamily: 'monospace', fontSize: 12 }}>{(d.fields ?? []).join(', ') || '—'}</TableCell>
                <TableCell>{d.manager || '—'}</TableCell>
                <TableCell title={formatDateTime(d.detectedAt)}>{formatRelative(d.detectedAt, now)}</TableCell>
                <TableCell>
                  <Chip
                    size="small"
                    label={d.corrected ? 'corrected' : 'drifted'}
                    color={d.corrected ? 'success' : 'warning'}
                    variant="outlined"
                  />
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </TableContainer>
    </>
  );
}
