import Chip from '@mui/material/Chip';
import IconButton from '@mui/material/IconButton';
import Tooltip from '@mui/material/Tooltip';
import DeleteIcon from '@mui/icons-material/DeleteOutlineOutlined';
import type { APIToken } from '../../api/models';
import { actionsColumn, DataTable, timeColumn, type Column } from '../../components/DataTable';

interface Props {
  tokens: APIToken[];
  now: number;
  onRevoke: (token: APIToken) => void;
  /** Framed as a page's table (not inside a dialog). */
  outlined?: boolean;
}

export function tokenStatus(t: APIToken, now: number): 'revoked' | 'expired' | 'active' {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && Date.parse(t.expiresAt) <= now) return 'expired';
  return 'active';
}

/** API tokens: name, dates, status, and a revoke button for the live ones. */
export function TokenTable({ tokens, now, onRevoke, outlined }: Props) {
  const columns: Column<APIToken>[] = [
    { key: 'name', header: 'Name', cellSx: { fontWeight: 500 }, cell: (t) => t.name },
    {
      key: 'status',
      header: 'Status',
      cell: (t) => {
        const status = tokenStatus(t, now);
        return <Chip size="small" label={status} color={status === 'active' ? 'success' : 'default'} variant="outlined" />;
      },
    },
    timeColumn('created', 'Created', (t) => t.createdAt, now),
    timeColumn('expires', 'Expires', (t) => t.expiresAt, now, 'Never'),
    timeColumn('lastUsed', 'Last used', (t) => t.lastUsedAt, now, 'Never'),
    actionsColumn(
      (t) =>
        tokenStatus(t, now) === 'active' && (
          <Tooltip title="Revoke">
            <IconButton aria-label={`Revoke token ${t.name}`} onClick={() => onRevoke(t)} size="small" color="error">
              <DeleteIcon fontSize="small" />
            </IconButton>
          </Tooltip>
        ),
    ),
  ];
  return (
    <DataTable
      label="API tokens"
      outlined={outlined}
      hover
      columns={columns}
      rows={tokens}
      rowKey={(t) => t.id}
      rowProps={(t) => ({ 'data-testid': `token-row-${t.name}` })}
    />
  );
}
