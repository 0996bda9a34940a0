import AddIcon from '@mui/icons-material/PersonAddAlt';
import EditIcon from '@mui/icons-material/EditOutlined';
import KeyIcon from '@mui/icons-material/KeyOutlined';
import PeopleIcon from '@mui/icons-material/PeopleOutlined';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import IconButton from '@mui/material/IconButton';
import Paper from '@mui/material/Paper';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import TextField from '@mui/material/TextField';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { useMemo, useState } from 'react';
import { listUsers } from '../../../api/admin';
import type { AdminUser } from '../../../api/models';
import { EmptyState } from '../../../components/EmptyState';
import { ErrorState } from '../../../components/ErrorState';
import { useNotify } from '../../../components/Notifier';
import { PageHeader } from '../../../components/PageHeader';
import { TableSkeleton } from '../../../components/PageSkeleton';
import { VisuallyHidden } from '../../../components/VisuallyHidden';
import { useNow } from '../../../hooks/useNow';
import { useResource } from '../../../hooks/useResource';
import { formatDateTime, formatRelative } from '../../../lib/time';
import { EditUserDialog } from './EditUserDialog';
import { NewUserDialog } from './NewUserDialog';
import { UserTokensDialog } from './UserTokensDialog';

const sourceLabel = { local: 'Password', oidc: 'Single sign-on', service: 'Service account' } as const;

export default function UsersPage() {
  const users = useResource((signal) => listUsers(signal), []);
  const notify = useNotify();
  const now = useNow(60_000);
  const [query, setQuery] = useState('');
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<AdminUser>();
  const [tokensOf, setTokensOf] = useState<AdminUser>();

  const knownGroups = useMemo(() => [...new Set((users.data ?? []).flatMap((u) => u.groups))].sort(), [users.data]);
  const q = query.trim().toLowerCase();
  const shown = (users.data ?? []).filter((u) => !q || [u.username, u.display, u.email, ...u.groups].join(' ').toLowerCase().includes(q));

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
      {users.error !== undefined && !users.data ? (
        <ErrorState title="The users could not be loaded" error={users.error} onRetry={users.reload} />
      ) : users.loading ? (
        <TableSkeleton />
      ) : users.data!.length === 0 ? (
        <EmptyState icon={<PeopleIcon />} title="No users" />
      ) : (
        <>
          <TextField
            type="search"
            size="small"
            placeholder="Filter by name, email or group"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            slotProps={{ htmlInput: { 'aria-label': 'Filter users' } }}
            sx={{ mb: 2, width: 320, maxWidth: '100%' }}
          />
          <Paper variant="outlined">
            <TableContainer>
              <Table size="small" aria-label="Users">
                <TableHead>
                  <TableRow>
                    <TableCell>User</TableCell>
                    <TableCell>Role</TableCell>
                    <TableCell>Sign-in</TableCell>
                    <TableCell>Groups</TableCell>
                    <TableCell>Quota</TableCell>
                    <TableCell align="right">Running</TableCell>
                    <TableCell>Last sign-in</TableCell>
                    <TableCell align="right">
                      <VisuallyHidden>Actions</VisuallyHidden>
                    </TableCell>
                  </TableRow>
                </TableHead>
                <TableBody>
                  {shown.map((u) => (
                    <TableRow key={u.username} hover data-testid={`user-row-${u.username}`} sx={{ opacity: u.disabled ? 0.6 : 1 }}>
                      <TableCell>
                        <Typography sx={{ fontWeight: 500 }}>
                          {u.username}{' '}
                          {u.disabled && <Chip size="small" color="error" variant="outlined" label="disabled" sx={{ ml: 0.5 }} />}
                        </Typography>
                        {(u.display || u.email) && (
                          <Typography variant="caption" color="textSecondary">
                            {[u.display, u.email].filter(Boolean).join(' · ')}
                          </Typography>
                        )}
                      </TableCell>
                      <TableCell>
                        <Chip
                          size="small"
                          label={u.role}
                          color={u.role === 'admin' ? 'primary' : 'default'}
                          variant={u.role === 'admin' ? 'filled' : 'outlined'}
                        />
                      </TableCell>
                      <TableCell>{sourceLabel[u.source] ?? u.source}</TableCell>
                      <TableCell>
                        <Box sx={{ display: 'flex', gap: 0.5, flexWrap: 'wrap' }}>
                          {u.groups.map((g) => (
                            <Chip key={g} size="small" variant="outlined" label={g} />
                          ))}
                        </Box>
                      </TableCell>
                      <TableCell>{u.quota ?? '—'}</TableCell>
                      <TableCell align="right">{u.activeSessions}</TableCell>
                      <TableCell title={formatDateTime(u.lastLoginAt)}>
                        {u.lastLoginAt ? formatRelative(u.lastLoginAt, now) : 'Never'}
                      </TableCell>
                      <TableCell align="right" sx={{ whiteSpace: 'nowrap' }}>
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
                      </TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            </TableContainer>
          </Paper>
        </>
      )}
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
