import EditIcon from '@mui/icons-material/EditOutlined';
import SpeedIcon from '@mui/icons-material/Speed';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import IconButton from '@mui/material/IconButton';
import Paper from '@mui/material/Paper';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import { isUnchanged, listQuotas } from '../../../api/admin';
import type { Quota } from '../../../api/models';
import { EmptyState } from '../../../components/EmptyState';
import { ErrorState } from '../../../components/ErrorState';
import { useNotify } from '../../../components/Notifier';
import { PageHeader } from '../../../components/PageHeader';
import { TableSkeleton } from '../../../components/PageSkeleton';
import { VisuallyHidden } from '../../../components/VisuallyHidden';
import { useResource } from '../../../hooks/useResource';
import { QuotaEditDialog } from './QuotaEditDialog';
import { formOf, limitFields } from './quotaSpec';

/** The default quota first, then by name. */
const byDefaultThenName = (a: Quota, b: Quota) => Number(b.default) - Number(a.default) || a.name.localeCompare(b.name);

export default function QuotasPage() {
  const quotas = useResource((signal) => listQuotas(signal), []);
  const notify = useNotify();
  const [editing, setEditing] = useState<Quota>();

  return (
    <>
      <PageHeader
        title="Quotas"
        subtitle="Limits per user and group; the most specific quota applies (a user's beats a group's, which beats the default)."
      />
      {quotas.error !== undefined && !quotas.data ? (
        <ErrorState title="The quotas could not be loaded" error={quotas.error} onRetry={quotas.reload} />
      ) : quotas.loading ? (
        <TableSkeleton rows={4} />
      ) : quotas.data!.length === 0 ? (
        <EmptyState
          icon={<SpeedIcon />}
          title="No quotas"
          description="Without a quota nobody is limited. Add Quota YAML to policies/ in the platform repository."
        />
      ) : (
        <Paper variant="outlined">
          <TableContainer>
            <Table size="small" aria-label="Quotas">
              <TableHead>
                <TableRow>
                  <TableCell>Quota</TableCell>
                  <TableCell>Applies to</TableCell>
                  {limitFields.map((f) => (
                    <TableCell key={f.key} title={f.label}>
                      {f.column}
                    </TableCell>
                  ))}
                  <TableCell align="right">
                    <VisuallyHidden>Actions</VisuallyHidden>
                  </TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {[...quotas.data!].sort(byDefaultThenName).map((q) => {
                  const limits = formOf(q).limits;
                  return (
                    <TableRow key={q.name} hover data-testid={`quota-row-${q.name}`}>
                      <TableCell sx={{ fontWeight: 500 }}>{q.name}</TableCell>
                      <TableCell>
                        {q.default ? (
                          <Chip size="small" color="primary" label="Everyone else (default)" />
                        ) : (
                          <Box sx={{ display: 'flex', gap: 0.5, flexWrap: 'wrap' }}>
                            {q.users.map((u) => (
                              <Chip key={'u:' + u} size="small" label={u} variant="outlined" />
                            ))}
                            {q.groups.map((g) => (
                              <Chip key={'g:' + g} size="small" label={`group ${g}`} />
                            ))}
                          </Box>
                        )}
                      </TableCell>
                      {limitFields.map((f) => (
                        <TableCell key={f.key} sx={{ whiteSpace: 'nowrap' }}>
                          {limits[f.key] || (
                            <Typography component="span" variant="body2" color="textDisabled">
                              no limit
                            </Typography>
                          )}
                        </TableCell>
                      ))}
                      <TableCell align="right">
                        <Tooltip title="Edit">
                          <IconButton aria-label={`Edit quota ${q.name}`} onClick={() => setEditing(q)} size="small">
                            <EditIcon fontSize="small" />
                          </IconButton>
                        </Tooltip>
                      </TableCell>
                    </TableRow>
                  );
                })}
              </TableBody>
            </Table>
          </TableContainer>
        </Paper>
      )}
      <QuotaEditDialog
        quota={editing}
        onClose={() => setEditing(undefined)}
        onProposed={(q, r) =>
          notify(
            isUnchanged(r) ? `Quota ${q.name}: Git already has this` : `Change to quota ${q.name} proposed`,
            isUnchanged(r) ? 'info' : 'success',
          )
        }
      />
    </>
  );
}
