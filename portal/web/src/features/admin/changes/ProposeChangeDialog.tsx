import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { fieldErrors } from '../../../api/errors';
import type { ProposeResult } from '../../../api/admin';
import { ChangeErrorView } from './ChangeErrorView';
import { ChangeResultView } from './ChangeResultView';

interface Props {
  open: boolean;
  title: string;
  /** The form; it gets the field errors of the last attempt. */
  children: (fields: Record<string, string>) => ReactNode;
  /** Field names the form shows next to its inputs. */
  formFields: string[];
  /** Builds the spec and proposes it with the reason; throws to show why not. */
  onPropose: (reason: string) => Promise<ProposeResult>;
  onProposed?: (result: ProposeResult) => void;
  onClose: () => void;
  /** The submit button's label; default "Propose change". */
  submitLabel?: string;
}

/**
 * An admin's edit of an object that lives in Git: it becomes a pull
 * request (or a commit) with the given reason as its title, and the dialog
 * shows where it went.
 */
export function ProposeChangeDialog({
  open,
  title,
  children,
  formFields,
  onPropose,
  onProposed,
  onClose,
  submitLabel = 'Propose change',
}: Props) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [result, setResult] = useState<ProposeResult>();

  useEffect(() => {
    if (open) {
      setReason('');
      setError(undefined);
      setResult(undefined);
    }
  }, [open]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await onPropose(reason.trim());
      setResult(r);
      onProposed?.(r);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const fields = fieldErrors(error);
  return (
    <Dialog open={open} onClose={busy ? undefined : onClose} maxWidth="md" fullWidth aria-labelledby="propose-title" scroll="paper">
      <form onSubmit={submit} noValidate style={{ display: 'contents' }}>
        <DialogTitle id="propose-title">{title}</DialogTitle>
        <DialogContent dividers>
          {result ? (
            <ChangeResultView result={result} />
          ) : (
            <>
              <Typography variant="body2" color="textSecondary" sx={{ mb: 2 }}>
                This object lives in the platform's Git repository. Your edit is checked by the cluster, then proposed as a pull request (or
                a commit); the agent applies it once it is merged.
              </Typography>
              {error !== undefined && <ChangeErrorView error={error} shownFields={[...formFields, 'reason']} />}
              {children(fields)}
              <TextField
                label="Reason for the change"
                value={reason}
                onChange={(e) => setReason(e.target.value)}
                required
                fullWidth
                margin="normal"
                error={Boolean(fields.reason)}
                helperText={fields.reason ?? `Titles the pull request (${reason.length}/200)`}
                slotProps={{ htmlInput: { maxLength: 200 } }}
              />
            </>
          )}
        </DialogContent>
        <DialogActions>
          {result ? (
            <Button variant="contained" onClick={onClose}>
              Done
            </Button>
          ) : (
            <>
              <Button onClick={onClose} disabled={busy}>
                Cancel
              </Button>
              <Button type="submit" variant="contained" loading={busy} disabled={!reason.trim()}>
                {submitLabel}
              </Button>
            </>
          )}
        </DialogActions>
      </form>
    </Dialog>
  );
}
