import AddIcon from '@mui/icons-material/Add';
import DeleteIcon from '@mui/icons-material/DeleteOutlineOutlined';
import EditIcon from '@mui/icons-material/EditOutlined';
import SpeedIcon from '@mui/icons-material/Speed';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import IconButton from '@mui/material/IconButton';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import { isUnchanged, listQuotas } from '../../../api/admin';
import type { Quota } from '../../../api/models';
import { actionsColumn, DataTable, type Column } from '../../../components/DataTable';
import { EmptyState } from '../../../components/EmptyState';
import { useNotify } from '../../../components/Notifier';
import { PageHeader } from '../../../components/PageHeader';
import { TableSkeleton } from '../../../components/PageSkeleton';
import { ResourceView } from '../../../components/ResourceView';
import { useResource } from '../../../hooks/useResource';
import { DeleteFromGitDialog } from '../changes/DeleteFromGitDialog';
import { QuotaEditDialog } from './QuotaEditDialog';
import { formOf, limitFields } from './quotaSpec';

/** The default quota first, then by name. */
const byDefaultThenName = (a: Quota, b: Quota) => Number(b.default) - Number(a.default) || a.name.localeCompare(b.name);

export default function QuotasPage() {
  const quotas = useResource((signal) => listQuotas(signal), []);
  const notify = useNotify();
  const [editing, setEditing] = useState<Quota>();
  const [creating, setCreating] = useState<Quota>();
  const [deleting, setDeleting] = useState<Quota>();

  const columns: Column<Quota>[] = [
    { key: 'name', header: 'Quota', cellSx: { fontWeight: 500 }, cell: (q) => q.name },
    {
      key: 'appliesTo',
      header: 'Applies to',
      cell: (q) =>
        q.default ? (
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
        ),
    },
    ...limitFields.map((f): Column<Quota> => ({
      key: f.key,
      header: f.column,
      headerTitle: f.label,
      cellSx: { whiteSpace: 'nowrap' },
      cell: (q) =>
        formOf(q).limits[f.key] || (
          <Typography component="span" variant="body2" color="textDisabled">
            no limit
          </Typography>
        ),
    })),
    actionsColumn((q) => (
      <>
        <Tooltip title="Edit">
          <IconButton aria-label={`Edit quota ${q.name}`} onClick={() => setEditing(q)} size="small">
            <EditIcon fontSize="small" />
          </IconButton>
        </Tooltip>
        <Tooltip title="Delete">
          <IconButton aria-label={`Delete quota ${q.name}`} onClick={() => setDeleting(q)} size="small">
            <DeleteIcon fontSize="small" />
          </IconButton>
        </Tooltip>
      </>
    )),
  ];

  return (
    <>
      <PageHeader
        title="Quotas"
        subtitle="Limits per user and group; the most specific quota applies (a user's beats a group's, which beats the default)."
        actions={
          <Button variant="contained" startIcon={<AddIcon />} onClick={() => setCreating(emptyQuota)}>
            New quota
          </Button>
        }
      />
      <ResourceView
        resource={quotas}
        errorTitle="The quotas could not be loaded"
        loading={<TableSkeleton rows={4} />}
        empty={
          <EmptyState
            icon={<SpeedIcon />}
            title="No quotas"
            description="Without a quota nobody is limited. Add Quota YAML to policies/ in the platform repository."
          />
        }
      >
        {(list) => (
          <DataTable
            label="Quotas"
            outlined
            hover
            columns={columns}
            rows={[...list].sort(byDefaultThenName)}
            rowKey={(q) => q.name}
            rowProps={(q) => ({ 'data-testid': `quota-row-${q.name}` })}
          />
        )}
      </ResourceView>
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
      <QuotaEditDialog
        quota={creating}
        creating
        onClose={() => setCreating(undefined)}
        onProposed={() => notify('New quota proposed', 'success')}
      />
      <DeleteFromGitDialog
        target={deleting && { kind: 'quotas', name: deleting.name, label: `quota ${deleting.name}` }}
        onClose={() => setDeleting(undefined)}
        onProposed={(name) => notify(`Deletion of quota ${name} proposed`, 'success')}
      />
    </>
  );
}

const emptyQuota: Quota = { name: '', default: false, users: [], groups: [], limits: {} } as unknown as Quota;
