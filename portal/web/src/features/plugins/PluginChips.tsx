import CheckIcon from '@mui/icons-material/Check';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Tooltip from '@mui/material/Tooltip';
import type { PluginRisk } from '../../api/models';
import { riskColor, typeLook } from './pluginLook';

export function PluginTypeChip({ type }: { type?: string }) {
  const look = typeLook(type);
  return <Chip size="small" label={look.label} color={look.color} data-testid="plugin-type" data-type={type} />;
}

export function RiskChip({ risk }: { risk: PluginRisk }) {
  return <Chip size="small" variant="outlined" label={`${risk} risk`} color={riskColor[risk]} />;
}

interface Permission {
  name: string;
  risk: PluginRisk;
  beyondTrust?: boolean;
  approved?: boolean;
}

/** The permissions a plugin asks for, each with its risk (and approval, where known). */
export function PermissionList({ permissions }: { permissions: Permission[] }) {
  if (permissions.length === 0) return <Box sx={{ color: 'text.secondary' }}>No permissions asked.</Box>;
  return (
    <Box component="ul" sx={{ m: 0, p: 0, listStyle: 'none', display: 'grid', gap: 0.75 }} aria-label="Permissions">
      {permissions.map((p) => (
        <Box
          component="li"
          key={p.name}
          sx={{ display: 'flex', gap: 1, alignItems: 'center', flexWrap: 'wrap' }}
          data-testid={`permission-${p.name}`}
        >
          <code>{p.name}</code>
          <RiskChip risk={p.risk} />
          {p.beyondTrust && (
            <Tooltip title="Riskier than this repository may ever be granted (plugin permission policy)">
              <Chip size="small" color="error" label="beyond trust" />
            </Tooltip>
          )}
          {p.approved !== undefined &&
            (p.approved ? (
              <Chip size="small" icon={<CheckIcon />} label="approved" />
            ) : (
              <Chip size="small" variant="outlined" label="not approved" />
            ))}
        </Box>
      ))}
    </Box>
  );
}
