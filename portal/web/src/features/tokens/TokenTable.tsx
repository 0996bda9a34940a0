import Chip from '@mui/material/Chip';
import IconButton from '@mui/material/IconButton';
import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableContainer from '@mui/material/TableContainer';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import Tooltip from '@mui/material/Tooltip';
import DeleteIcon from '@mui/icons-material/DeleteOutlineOutlined';
import type { APIToken } from '../../api/models';
import { VisuallyHidden } from '../../components/VisuallyHidden';
import { formatDateTime, formatRelative } from '../../lib/time';

interface Props {
  tokens: APIToken[];
  now: number;
  onRevoke: (token: APIToken) => void;
}

export function tokenStatus(t: APIToken, now: number): 'revoked' | 'expired' | 'active' {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && Date.parse(t.expiresAt) <= now) return 'expired';
  return 'active';
}

/** API tokens: name, dates, status, and a revoke button for the live ones. */
export function TokenTable({ tokens, now, onRevoke }: Props) {
  return (
    <TableContainer>
      <Table size="small" aria-label="API tokens">
        <TableHead>
          <TableRow>
            <TableCell>Name</TableCell>
            <TableCell>Status</TableCell>
            <TableCell>Created</TableCell>
            <TableCell>Expires</TableCell>
            <TableCell>Last used</TableCell>
            <TableCell align="right">
              <VisuallyHidden>Actions</VisuallyHidden>
            </TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {tokens.map((t) => {
            const status = tokenStatus(t, now);
            return (
              <TableRow key={t.id} hover data-testid={`token-row-${t.name}`}>
                <TableCell sx={{ fontWeight: 500 }}>{t.name}</TableCell>
                <TableCell>
                  <Chip size="small" label={status} color={status === 'active' ? 'success' : 'default'} variant="outlined" />
                </TableCell>
                <TableCell title={formatDateTime(t.createdAt)}>{formatRelative(t.createdAt, now)}</TableCell>
                <TableCell title={formatDateTime(t.expiresAt)}>{t.expiresAt ? formatRelative(t.expiresAt, now) : 'Never'}</TableCell>
                <TableCell title={formatDateTime(t.lastUsedAt)}>{t.lastUsedAt ? formatRelative(t.lastUsedAt, now) : 'Never'}</TableCell>
                <TableCell align="right">
                  {status === 'active' && (
                    <Tooltip title="Revoke">
                      <IconButton aria-label={`Revoke token ${t.name}`} onClick={() => onRevoke(t)} size="small" color="error">
                        <DeleteIcon fontSize="small" />
                      </IconButton>
                    </Tooltip>
                  )}
                </TableCell>
              </TableRow>
            );
          })}
        </TableBody>
      </Table>
    </TableContainer>
  );
}
