import Box from '@mui/material/Box';
import FormControlLabel from '@mui/material/FormControlLabel';
import Switch from '@mui/material/Switch';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useEffect, useState } from 'react';
import { createQuota, proposeQuota, type ProposeResult } from '../../../api/admin';
import { ApiError } from '../../../api/errors';
import type { Quota } from '../../../api/models';
import { ChipInput } from '../../../components/ChipInput';
import { ProposeChangeDialog } from '../changes/ProposeChangeDialog';
import { formOf, limitFields, specOf, validate, type QuotaForm } from './quotaSpec';

interface Props {
  quota: Quota | undefined;
  /** The quota is new: the dialog asks for its name and proposes adding it. */
  creating?: boolean;
  onClose: () => void;
  onProposed: (quota: Quota, result: ProposeResult) => void;
}

const formFields = ['spec.default', 'spec.users', 'spec.groups', ...limitFields.map((f) => `spec.limits.${f.key}`)];

export function QuotaEditDialog({ quota, creating, onClose, onProposed }: Props) {
  const [form, setForm] = useState<QuotaForm>();
  const [name, setName] = useState('');
  useEffect(() => {
    if (quota) setForm(formOf(quota));
    setName('');
  }, [quota]);

  const propose = async (reason: string) => {
    const errors = validate(form!);
    if (creating && !name.trim()) errors.name = 'Required: the quota’s name, also its file name';
    if (Object.keys(errors).length > 0) throw new ApiError(400, 'invalid_request', 'Some fields are not valid.', errors);
    if (creating) return createQuota({ name: name.trim(), spec: specOf(form!), reason });
    return proposeQuota(quota!.name, { spec: specOf(form!), reason });
  };

  return (
    <ProposeChangeDialog
      open={Boolean(quota)}
      title={creating ? 'New quota' : `Edit quota ${quota?.name ?? ''}`}
      submitLabel={creating ? 'Propose quota' : undefined}
      formFields={creating ? ['name', ...formFields] : formFields}
      onPropose={propose}
      onProposed={(r) => quota && onProposed(quota, r)}
      onClose={onClose}
    >
      {(errors) =>
        form && (
          <>
            {creating && (
              <TextField
                label="Name"
                value={name}
                onChange={(e) => setName(e.target.value)}
                required
                fullWidth
                margin="dense"
                error={Boolean(errors.name)}
                helperText={errors.name ?? 'Lower case letters, digits and dashes'}
              />
            )}
            <FormControlLabel
              control={<Switch checked={form.default} onChange={(e) => setForm({ ...form, default: e.target.checked })} />}
              label="Default quota (applies to everyone not named in another quota)"
            />
            {!form.default && (
              <Box sx={{ display: 'grid', gap: 1, gridTemplateColumns: { xs: '1fr', sm: '1fr 1fr' } }}>
                <ChipInput
                  label="Users"
                  value={form.users}
                  onChange={(users) => setForm({ ...form, users })}
                  error={Boolean(errors['spec.users'])}
                  helperText={errors['spec.users']}
                />
                <ChipInput
                  label="Groups"
                  value={form.groups}
                  onChange={(groups) => setForm({ ...form, groups })}
                  error={Boolean(errors['spec.groups'])}
                  helperText={errors['spec.groups']}
                />
              </Box>
            )}
            <Typography variant="subtitle2" sx={{ mt: 2 }}>
              Limits — leave empty for no limit
            </Typography>
            <Box sx={{ display: 'grid', gap: 1, gridTemplateColumns: { xs: '1fr', sm: '1fr 1fr' } }}>
              {limitFields.map((f) => {
                const error = errors[`spec.limits.${f.key}`];
                return (
                  <TextField
                    key={f.key}
                    label={f.label}
                    value={form.limits[f.key]}
                    onChange={(e) => setForm({ ...form, limits: { ...form.limits, [f.key]: e.target.value } })}
                    error={Boolean(error)}
                    helperText={error ?? f.hint}
                    margin="dense"
                    slotProps={{ htmlInput: f.kind === 'count' ? { inputMode: 'numeric' } : {} }}
                  />
                );
              })}
            </Box>
          </>
        )
      }
    </ProposeChangeDialog>
  );
}
