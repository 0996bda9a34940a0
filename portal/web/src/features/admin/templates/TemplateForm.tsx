import Box from '@mui/material/Box';
import FormControlLabel from '@mui/material/FormControlLabel';
import FormGroup from '@mui/material/FormGroup';
import FormLabel from '@mui/material/FormLabel';
import MenuItem from '@mui/material/MenuItem';
import Switch from '@mui/material/Switch';
import TextField from '@mui/material/TextField';
import { ChipInput } from '../../../components/ChipInput';
import { CategoryField } from './CategoryField';
import { fieldPaths, protocols, type EditableTemplateSpec } from './templateSpec';

interface Props {
  spec: EditableTemplateSpec;
  onChange: (spec: EditableTemplateSpec) => void;
  /** Field errors of the last attempt, by the API server's paths. */
  errors: Record<string, string>;
}

const policySwitches: { key: keyof EditableTemplateSpec['dataPolicy']; label: string }[] = [
  { key: 'clipboardIn', label: 'Paste into the session' },
  { key: 'clipboardOut', label: 'Copy out of the session' },
  { key: 'fileUpload', label: 'File upload' },
  { key: 'fileDownload', label: 'File download' },
  { key: 'audio', label: 'Audio' },
];

export function TemplateForm({ spec, onChange, errors }: Props) {
  const err = (field: string) => errors[fieldPaths[field]];
  const set = (patch: Partial<EditableTemplateSpec>) => onChange({ ...spec, ...patch });
  return (
    <Box sx={{ display: 'grid', gap: 1, gridTemplateColumns: { xs: '1fr', sm: '1fr 1fr' } }}>
      <TextField
        label="Display name"
        value={spec.displayName}
        onChange={(e) => set({ displayName: e.target.value })}
        required
        error={Boolean(err('displayName'))}
        helperText={err('displayName')}
        margin="dense"
      />
      <CategoryField value={spec.category} onChange={(category) => set({ category })} error={err('category')} />
      <TextField
        label="Description"
        value={spec.description}
        onChange={(e) => set({ description: e.target.value })}
        multiline
        minRows={2}
        error={Boolean(err('description'))}
        helperText={err('description')}
        margin="dense"
        sx={{ gridColumn: '1 / -1' }}
      />
      <TextField
        label="Icon URL"
        value={spec.icon ?? ''}
        onChange={(e) => set({ icon: e.target.value })}
        error={Boolean(err('icon'))}
        helperText={err('icon') ?? 'An https:// URL or a data:image/ URI'}
        margin="dense"
        sx={{ gridColumn: '1 / -1' }}
      />
      <Box sx={{ gridColumn: '1 / -1' }}>
        <ChipInput
          label="Tags"
          value={spec.tags}
          onChange={(tags) => set({ tags })}
          error={Boolean(err('tags'))}
          helperText={err('tags')}
        />
      </Box>
      <TextField
        label="Memory"
        value={spec.defaultResources.memory ?? ''}
        onChange={(e) => set({ defaultResources: { ...spec.defaultResources, memory: e.target.value } })}
        error={Boolean(err('memory'))}
        helperText={err('memory') ?? 'e.g. 2Gi'}
        margin="dense"
      />
      <TextField
        label="CPU"
        value={spec.defaultResources.cpu ?? ''}
        onChange={(e) => set({ defaultResources: { ...spec.defaultResources, cpu: e.target.value } })}
        error={Boolean(err('cpu'))}
        helperText={err('cpu') ?? 'e.g. 1 or 500m'}
        margin="dense"
      />
      <TextField
        select
        label="Stream protocol"
        value={spec.stream.protocol}
        onChange={(e) => set({ stream: { ...spec.stream, protocol: e.target.value as EditableTemplateSpec['stream']['protocol'] } })}
        error={Boolean(err('protocol'))}
        helperText={err('protocol') ?? `On port ${spec.stream.port}`}
        margin="dense"
      >
        {protocols.map((p) => (
          <MenuItem key={p} value={p}>
            {p}
          </MenuItem>
        ))}
      </TextField>
      <Box component="fieldset" sx={{ border: 0, p: 0, m: 0, gridColumn: '1 / -1', mt: 1 }}>
        <FormLabel component="legend">Data policy</FormLabel>
        <FormGroup row>
          {policySwitches.map(({ key, label }) => (
            <FormControlLabel
              key={key}
              label={label}
              control={
                <Switch
                  checked={Boolean(spec.dataPolicy[key])}
                  onChange={(e) => set({ dataPolicy: { ...spec.dataPolicy, [key]: e.target.checked } })}
                />
              }
            />
          ))}
        </FormGroup>
      </Box>
    </Box>
  );
}
