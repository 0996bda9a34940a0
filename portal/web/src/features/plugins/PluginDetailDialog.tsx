import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Checkbox from '@mui/material/Checkbox';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import FormControlLabel from '@mui/material/FormControlLabel';
import FormGroup from '@mui/material/FormGroup';
import Switch from '@mui/material/Switch';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useEffect, useId, useState } from 'react';
import type { ProposeResult } from '../../api/admin';
import type { CatalogPlugin } from '../../api/models';
import { installPlugin } from '../../api/plugins';
import { ChangeErrorView } from '../admin/changes/ChangeErrorView';
import { ChangeResultView } from '../admin/changes/ChangeResultView';
import { ConfigForm } from './ConfigForm';
import { PermissionList, PluginTypeChip, RiskChip } from './PluginChips';

interface Props {
  plugin: CatalogPlugin | undefined;
  /** Admins see the install form. */
  canInstall: boolean;
  onClose: () => void;
  onInstalled: () => void;
}

/** A catalog plugin's detail: what it is, its events, its permissions and their risk; for admins, installing it. */
export function PluginDetailDialog({ plugin, canInstall, onClose, onInstalled }: Props) {
  const titleId = useId();
  const [installing, setInstalling] = useState(false);
  const [name, setName] = useState('');
  const [approved, setApproved] = useState<string[]>([]);
  const [enabled, setEnabled] = useState(false);
  const [config, setConfig] = useState<Record<string, unknown>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [result, setResult] = useState<ProposeResult>();

  useEffect(() => {
    setInstalling(false);
    setName(plugin?.name ?? '');
    setApproved([]);
    setEnabled(false);
    setConfig({});
    setError(undefined);
    setResult(undefined);
  }, [plugin]);

  if (!plugin) return null;
  const submit = async (cfg: Record<string, unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await installPlugin({
        repository: plugin.repository,
        plugin: plugin.name,
        version: plugin.version,
        name,
        enabled,
        approvedPermissions: approved,
        ...(plugin.configSchema ? { config: cfg } : {}),
      });
      setResult(r);
      onInstalled();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const actions = (
    <DialogActions sx={{ px: 0 }}>
      <Button onClick={onClose}>Close</Button>
      <Button type="submit" variant="contained" disabled={busy || !name}>
        Propose install
      </Button>
    </DialogActions>
  );

  return (
    <Dialog open onClose={onClose} aria-labelledby={titleId} maxWidth="sm" fullWidth data-testid="plugin-detail">
      <DialogTitle id={titleId} sx={{ display: 'flex', gap: 1, alignItems: 'center' }}>
        {plugin.displayName} <PluginTypeChip type={plugin.type} />
      </DialogTitle>
      <DialogContent>
        <Typography sx={{ mb: 2 }}>{plugin.description || 'No description.'}</Typography>
        <Typography variant="body2" color="text.secondary" sx={{ mb: 2 }}>
          Version {plugin.version} from <code>{plugin.repository}</code> at <code>{plugin.revision}</code>
        </Typography>
        {plugin.exceedsTrust && (
          <Alert severity="error" sx={{ mb: 2 }}>
            It asks for more than this repository may ever be granted: it can be installed but never enabled.
          </Alert>
        )}
        <Typography variant="h3" component="h3" sx={{ mb: 1 }}>
          Permissions
        </Typography>
        <PermissionList permissions={plugin.permissions} />
        {plugin.events.length > 0 && (
          <>
            <Typography variant="h3" component="h3" sx={{ mt: 2, mb: 1 }}>
              Events
            </Typography>
            <Typography variant="body2">{plugin.events.join(', ')}</Typography>
          </>
        )}
        {result && (
          <Box sx={{ mt: 2 }}>
            <ChangeResultView result={result} />
          </Box>
        )}
        {canInstall && !installing && !result && (
          <DialogActions sx={{ px: 0, mt: 2 }}>
            <Button onClick={onClose}>Close</Button>
            <Button variant="contained" onClick={() => setInstalling(true)}>
              Install…
            </Button>
          </DialogActions>
        )}
        {installing && !result && (
          <Box sx={{ mt: 3 }} data-testid="install-form">
            <Typography variant="h3" component="h3" sx={{ mb: 1 }}>
              Install
            </Typography>
            <TextField
              label="Name"
              size="small"
              value={name}
              onChange={(e) => setName(e.target.value)}
              helperText="The Plugin object's name"
              sx={{ mb: 2 }}
            />
            {plugin.permissions.length > 0 && (
              <FormGroup aria-label="Approve permissions" sx={{ mb: 1 }}>
                {plugin.permissions.map((p) => (
                  <FormControlLabel
                    key={p.name}
                    disabled={p.beyondTrust}
                    control={
                      <Checkbox
                        checked={approved.includes(p.name)}
                        onChange={(e) => setApproved(e.target.checked ? [...approved, p.name] : approved.filter((x) => x !== p.name))}
                      />
                    }
                    label={
                      <Box sx={{ display: 'flex', gap: 1, alignItems: 'center' }}>
                        Approve <code>{p.name}</code> <RiskChip risk={p.risk} />
                      </Box>
                    }
                  />
                ))}
              </FormGroup>
            )}
            <FormControlLabel
              control={<Switch checked={enabled} onChange={(e) => setEnabled(e.target.checked)} disabled={plugin.exceedsTrust} />}
              label="Enabled"
            />
            {error !== undefined && (
              <Box sx={{ my: 1 }}>
                <ChangeErrorView error={error} />
              </Box>
            )}
            {plugin.configSchema ? (
              <ConfigForm schema={plugin.configSchema} value={config} onChange={setConfig} onSubmit={(v) => void submit(v)} disabled={busy}>
                {actions}
              </ConfigForm>
            ) : (
              <Box
                component="form"
                onSubmit={(e) => {
                  e.preventDefault();
                  void submit({});
                }}
              >
                {actions}
              </Box>
            )}
          </Box>
        )}
        {(!canInstall || result) && (
          <DialogActions sx={{ px: 0 }}>
            <Button onClick={onClose}>Close</Button>
          </DialogActions>
        )}
      </DialogContent>
    </Dialog>
  );
}
