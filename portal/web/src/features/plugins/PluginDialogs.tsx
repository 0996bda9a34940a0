import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Checkbox from '@mui/material/Checkbox';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import FormControlLabel from '@mui/material/FormControlLabel';
import FormGroup from '@mui/material/FormGroup';
import { useEffect, useId, useState } from 'react';
import type { ProposeResult } from '../../api/admin';
import type { InstalledPlugin } from '../../api/models';
import { approvePluginPermissions, configurePlugin } from '../../api/plugins';
import { ChangeErrorView } from '../admin/changes/ChangeErrorView';
import { ConfigForm } from './ConfigForm';
import { RiskChip } from './PluginChips';

interface Props {
  plugin: InstalledPlugin | undefined;
  onClose: () => void;
  onProposed: (result: ProposeResult) => void;
}

/** Proposing a plugin's new configuration through the form its schema generates. */
export function ConfigureDialog({ plugin, onClose, onProposed }: Props) {
  const titleId = useId();
  const [value, setValue] = useState<Record<string, unknown>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    setValue((plugin?.config as Record<string, unknown> | undefined) ?? {});
    setError(undefined);
  }, [plugin]);
  if (!plugin) return null;
  const submit = async (v: Record<string, unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      onProposed(await configurePlugin(plugin.name, v));
      onClose();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open onClose={busy ? undefined : onClose} aria-labelledby={titleId} maxWidth="sm" fullWidth data-testid="configure-dialog">
      <DialogTitle id={titleId}>Configure {plugin.displayName}</DialogTitle>
      <DialogContent>
        {error !== undefined && (
          <Box sx={{ mb: 2 }}>
            <ChangeErrorView error={error} />
          </Box>
        )}
        <ConfigForm
          schema={plugin.configSchema ?? { type: 'object' }}
          value={value}
          onChange={setValue}
          onSubmit={(v) => void submit(v)}
          disabled={busy}
        >
          <DialogActions sx={{ px: 0 }}>
            <Button onClick={onClose} disabled={busy}>
              Cancel
            </Button>
            <Button type="submit" variant="contained" loading={busy}>
              Propose configuration
            </Button>
          </DialogActions>
        </ConfigForm>
      </DialogContent>
    </Dialog>
  );
}

/** Proposing which of the permissions a plugin asks for are approved. */
export function ApproveDialog({ plugin, onClose, onProposed }: Props) {
  const titleId = useId();
  const [approved, setApproved] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    setApproved(plugin?.approvedPermissions ?? []);
    setError(undefined);
  }, [plugin]);
  if (!plugin) return null;
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      onProposed(await approvePluginPermissions(plugin.name, approved));
      onClose();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open onClose={busy ? undefined : onClose} aria-labelledby={titleId} maxWidth="sm" fullWidth data-testid="approve-dialog">
      <DialogTitle id={titleId}>Permissions of {plugin.displayName}</DialogTitle>
      <DialogContent>
        {error !== undefined && (
          <Box sx={{ mb: 2 }}>
            <ChangeErrorView error={error} />
          </Box>
        )}
        <FormGroup aria-label="Approved permissions">
          {plugin.permissions.map((p) => (
            <FormControlLabel
              key={p.name}
              control={
                <Checkbox
                  checked={approved.includes(p.name)}
                  onChange={(e) => setApproved(e.target.checked ? [...approved, p.name] : approved.filter((x) => x !== p.name))}
                />
              }
              label={
                <Box sx={{ display: 'flex', gap: 1, alignItems: 'center' }}>
                  <code>{p.name}</code> <RiskChip risk={p.risk} />
                </Box>
              }
            />
          ))}
        </FormGroup>
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose} disabled={busy}>
          Cancel
        </Button>
        <Button variant="contained" onClick={() => void submit()} loading={busy}>
          Propose approval
        </Button>
      </DialogActions>
    </Dialog>
  );
}
