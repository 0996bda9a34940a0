import AddIcon from '@mui/icons-material/PersonAddAlt';
import EditIcon from '@mui/icons-material/EditOutlined';
import KeyIcon from '@mui/icons-material/KeyOutlined';
import PeopleIcon from '@mui/icons-material/PeopleOutlined';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import IconButton from '@mui/material/IconButton';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { useMemo, useState } from 'react';
import { listUsers } from '../../../api/admin';
import type { AdminUser } from '../../../api/models';
import { actionsColumn, DataTable, timeColumn, type Column } from '../../../components/DataTable';
import { EmptyState } from '../../../components/EmptyState';
import { useNotify } from '../../../components/Notifier';
import { PageHeader } from '../../../components/PageHeader';
import { TableSkeleton } from '../../../components/PageSkeleton';
import { ResourceView } from '../../../components/ResourceView';
import { useNow } from '../../../hooks/useNow';
import { useResource } from '../../../hooks/useResource';
import { EditUserDialog } from './EditUserDialog';
import { NewUserDialog } from './NewUserDialog';
import { UserTokensDialog } from './UserTokensDialog';

const sourceLabel = { local: 'Password', oidc: 'Single sign-on', service: 'Service account' } as const;

const userMatches = (u: AdminUser, query: string) =>
  [u.username, u.display, u.email, ...u.groups].join(' ').toLowerCase().includes(query.trim().toLowerCase());

export default function UsersPage() {
  const users = useResource((signal) => listUsers(signal), []);
  const notify = useNotify();
  const now = useNow(60_000);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<AdminUser>();
  const [tokensOf, setTokensOf] = useState<AdminUser>();

  const knownGroups = useMemo(() => [...new Set((users.data ?? []).flatMap((u) => u.groups))].sort(), [users.data]);
  const columns: Column<AdminUser>[] = [
    {
      key: 'user',
      header: 'User',
      cell: (u) => (
        <>
          <Typography sx={{ fontWeight: 500 }}>
            {u.username} {u.disabled && <Chip size="small" color="error" variant="outlined" label="disabled" sx={{ ml: 0.5 }} />}
          </Typography>
          {(u.display || u.email) && (
            <Typography variant="caption" color="textSecondary">
              {[u.display, u.email].filter(Boolean).join(' · ')}
            </Typography>
          )}
        </>
      ),
    },
    {
      key: 'role',
      header: 'Role',
      cell: (u) => (
        <Chip
          size="small"
          label={u.role}
          color={u.role === 'admin' ? 'primary' : 'default'}
          variant={u.role === 'admin' ? 'filled' : 'outlined'}
        />
      ),
    },
    { key: 'source', header: 'Sign-in', cell: (u) => sourceLabel[u.source] ?? u.source },
    {
      key: 'groups',
      header: 'Groups',
      cell: (u) => (
        <Box sx={{ display: 'flex', gap: 0.5, flexWrap: 'wrap' }}>
          {u.groups.map((g) => (
            <Chip key={g} size="small" variant="outlined" label={g} />
          ))}
        </Box>
      ),
    },
    { key: 'quota', header: 'Quota', cell: (u) => u.quota ?? '—' },
    { key: 'running', header: 'Running', align: 'right', cell: (u) => u.activeSessions },
    timeColumn('lastLogin', 'Last sign-in', (u) => u.lastLoginAt, now, 'Never'),
    actionsColumn(
      (u) => (
        <>
          <Tooltip title="API tokens">
            <IconButton aria-label={`API tokens of ${u.username}`} onClick={() => setTokensOf(u)} size="small">
              <KeyIcon fontSize="small" />
            </IconButton>
          </Tooltip>
          <Tooltip title="Edit">
            <IconButton aria-label={`Edit ${u.username}`} onClick={() => setEditing(u)} size="small">
              <EditIcon fontSize="small" />
            </IconButton>
          </Tooltip>
        </>
      ),
      { whiteSpace: 'nowrap' },
    ),
  ];

  return (
    <>
      <PageHeader
        title="Users"
        subtitle="Accounts, their roles and groups, and service accounts for automation."
        actions={
          <Button variant="contained" startIcon={<AddIcon />} onClick={() => setCreating(true)}>
            New user
          </Button>
        }
      />
      <ResourceView
        resource={users}
        errorTitle="The users could not be loaded"
        loading={<TableSkeleton />}
        empty={<EmptyState icon={<PeopleIcon />} title="No users" />}
      >
        {(list) => (
          <DataTable
            label="Users"
            outlined
            hover
            filter={{ label: 'Filter users', placeholder: 'Filter by name, email or group', matches: userMatches }}
            columns={columns}
            rows={list}
            rowKey={(u) => u.username}
            rowProps={(u) => ({ 'data-testid': `user-row-${u.username}`, sx: { opacity: u.disabled ? 0.6 : 1 } })}
          />
        )}
      </ResourceView>
      <NewUserDialog
        open={creating}
        knownGroups={knownGroups}
        onCreated={(u) => {
          setCreating(false);
          notify(`${u.source === 'service' ? 'Service account' : 'User'} ${u.username} created`);
          void users.reload();
        }}
        onClose={() => setCreating(false)}
      />
      <EditUserDialog
        user={editing}
        knownGroups={knownGroups}
        onSaved={(u) => {
          setEditing(undefined);
          notify(`${u.username} saved`);
          void users.reload();
        }}
        onClose={() => setEditing(undefined)}
      />
      {tokensOf && <UserTokensDialog user={tokensOf} onClose={() => setTokensOf(undefined)} />}
    </>
  );
}
