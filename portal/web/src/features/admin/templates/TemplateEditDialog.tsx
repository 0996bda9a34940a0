import Tab from '@mui/material/Tab';
import Tabs from '@mui/material/Tabs';
import TextField from '@mui/material/TextField';
import Alert from '@mui/material/Alert';
import { useEffect, useState } from 'react';
import { proposeTemplate, type ProposeResult } from '../../../api/admin';
import type { Template } from '../../../api/models';
import { ProposeChangeDialog } from '../changes/ProposeChangeDialog';
import { TemplateForm } from './TemplateForm';
import { fieldPaths, specOf, toChange, type EditableTemplateSpec } from './templateSpec';

interface Props {
  template: Template | undefined;
  onClose: () => void;
  onProposed: (template: Template, result: ProposeResult) => void;
}

type Mode = 'form' | 'json';

/** Edit a template in a form or as JSON, and propose the change to Git. */
export function TemplateEditDialog({ template, onClose, onProposed }: Props) {
  const [mode, setMode] = useState<Mode>('form');
  const [spec, setSpec] = useState<EditableTemplateSpec>();
  const [json, setJson] = useState('');
  const [jsonError, setJsonError] = useState<string>();

  useEffect(() => {
    if (!template) return;
    const s = specOf(template);
    setSpec(s);
    setJson(JSON.stringify(toChange(s), null, 2));
    setMode('form');
    setJsonError(undefined);
  }, [template]);

  const switchMode = (next: Mode) => {
    if (next === mode || !spec) return;
    if (next === 'json') {
      setJson(JSON.stringify(toChange(spec), null, 2));
    } else {
      try {
        setSpec({ ...spec, ...(JSON.parse(json) as Partial<EditableTemplateSpec>) });
      } catch (err) {
        setJsonError(`Fix the JSON first: ${(err as Error).message}`);
        return;
      }
    }
    setJsonError(undefined);
    setMode(next);
  };

  const propose = (reason: string) => {
    let body: Record<string, unknown>;
    if (mode === 'json') {
      try {
        body = JSON.parse(json) as Record<string, unknown>;
      } catch (err) {
        return Promise.reject(new Error(`The JSON is not valid: ${(err as Error).message}`));
      }
    } else {
      body = toChange(spec!);
    }
    return proposeTemplate(template!.name, { spec: body, reason });
  };

  return (
    <ProposeChangeDialog
      open={Boolean(template)}
      title={`Edit template ${template?.displayName ?? ''}`}
      formFields={mode === 'form' ? Object.values(fieldPaths) : []}
      onPropose={propose}
      onProposed={(r) => template && onProposed(template, r)}
      onClose={onClose}
    >
      {(errors) => (
        <>
          <Tabs value={mode} onChange={(_, v: Mode) => switchMode(v)} sx={{ mb: 2 }} aria-label="Edit as">
            <Tab value="form" label="Form" />
            <Tab value="json" label="JSON" />
          </Tabs>
          {jsonError && (
            <Alert severity="error" sx={{ mb: 2 }}>
              {jsonError}
            </Alert>
          )}
          {mode === 'form' && spec && <TemplateForm spec={spec} onChange={setSpec} errors={errors} />}
          {mode === 'json' && (
            <TextField
              label="Spec (JSON)"
              value={json}
              onChange={(e) => setJson(e.target.value)}
              multiline
              minRows={14}
              maxRows={28}
              fullWidth
              helperText="Fields left out (image, ports, env…) keep the value Git has; null clears an optional field."
              slotProps={{ htmlInput: { spellCheck: false, style: { fontFamily: 'ui-monospace, monospace', fontSize: 13 } } }}
            />
          )}
        </>
      )}
    </ProposeChangeDialog>
  );
}
